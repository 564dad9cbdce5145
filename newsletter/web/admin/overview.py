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
    lines = []
    for mailing in report.mailings_page(site.engine, None, LAST_SENDS):
        assert mailing.id is not None  # Read from the database.
        by_state: dict[str, int] = {}
        for (_, state), count in report.counts(site.engine, mailing.id).items():
            by_state[state] = by_state.get(state, 0) + count
        lines.append(
            SendLine(
                issue=mailing.issue,
                started=mailing.created_at,
                sent=by_state.get(DeliveryState.SENT, 0),
                failed=by_state.get(DeliveryState.FAILED, 0),
                total=sum(by_state.values()),
                paused=mailing.paused_at is not None,
            )
        )
    return lines
