"""The dashboard's first page, GET /admin/: subscribers by status, the last sends, the schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from newsletter.access.users import Role
from newsletter.deliver import report
from newsletter.deliver.models import DeliveryState
from newsletter.schedules import schedules
from newsletter.subscribers.registry import status_counts
from newsletter.web.admin.auth import Admin, require_role
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site, database

router = APIRouter()
LAST_SENDS = 10


@dataclass(frozen=True)
class SendLine:
    """One send as the overview lists it."""

    id: int
    issue: str
    started: datetime
    sent: int
    failed: int
    total: int
    paused: bool


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = Depends(current_site),
    db: Session = Depends(database),
) -> HTMLResponse:
    """Counts of subscribers by status, the last sends with what became of them, the schedules."""
    return render(
        request,
        site,
        "overview",
        admin,
        statuses=status_counts(db),
        sends=last_sends(site),
        schedules=[
            {"id": planned.id, "what": planned.schedule.describe(), "next_run": planned.next_run}
            for planned, _ in schedules(site.project, site.engine)
        ],
    )


def last_sends(site: Site) -> list[SendLine]:
    """The last LAST_SENDS sends, newest first, with their sent and failed deliveries."""
    mailings = report.mailings_page(site.engine, None, LAST_SENDS)
    # One query for the states of all of them (over the claim index), not one per send.
    states = report.state_counts(site.engine, [mailing.id or 0 for mailing in mailings])
    return [
        SendLine(
            id=mailing.id or 0,
            issue=mailing.issue,
            started=mailing.created_at,
            sent=states[mailing.id or 0].get(DeliveryState.SENT, 0),
            failed=states[mailing.id or 0].get(DeliveryState.FAILED, 0),
            total=sum(states[mailing.id or 0].values()),
            paused=mailing.paused_at is not None,
        )
        for mailing in mailings
    ]
