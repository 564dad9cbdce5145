"""The dashboard's first page, GET /admin/: what is scheduled next, subscribers by status and
over time (a chart), the last sends with their delivered, bounced and complained shares (bars)
and counts, the schedules."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_skeleton, format_time, get_datetime_format
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlmodel import Session

from newsletter.access.users import Role
from newsletter.deliver import report
from newsletter.deliver.models import DeliveryState
from newsletter.inbound.report import came_back
from newsletter.render.i18n import Localizer
from newsletter.schedules import schedules
from newsletter.subscribers.growth import Growth, growth
from newsletter.subscribers.registry import status_counts
from newsletter.web.admin.auth import Admin, require_role
from newsletter.web.admin.charts import WIDTH, SendCounts, growth_chart, rate_rows
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site

router = APIRouter()
LAST_SENDS = 10
# The threads the overview's parts run in: four a page; more pages at once wait their turn.
# The chart's part waits for the status counts' part of its page, which went in first and so
# is running or done whenever the chart's part runs (the pool takes them in order): no page
# waits on a part that waits for a thread.
_PARTS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="overview")


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
    bounced: int
    """Sent messages that bounced after the receiving server took them."""
    complained: int


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = Depends(current_site),
) -> HTMLResponse:
    """The next run, counts of subscribers by status and over time, the last sends with what
    became of them, the schedules."""
    localizer, _ = site.environment(site.browser_locale(request))
    # Its four parts, each on a connection of its own at the same time: they read different
    # rows, and the page takes as long as the slowest (docs/benchmarks.md, "The overview").
    counting = _PARTS.submit(_status_counts, site.engine)
    charting = _PARTS.submit(_growth, site, lambda: counting.result()["active"])
    listing = _PARTS.submit(last_sends, site)
    # The schedules come the next to fire first, paused ones (no next run) last.
    planning = _PARTS.submit(schedules, site.project, site.engine)
    statuses, over_time, sends = counting.result(), charting.result(), listing.result()
    planned = [planned for planned, _ in planning.result()]
    rates, scales = rate_rows(
        [SendCounts(s.issue, s.sent, s.failed, s.bounced, s.complained) for s in sends], localizer
    )
    upcoming = planned[0] if planned and planned[0].next_run else None
    return render(
        request, site, "overview", admin,
        statuses=statuses, growth=growth_chart(over_time, localizer), width=WIDTH, sends=sends,
        rates=rates, scales=scales, next_run=upcoming,
        next_when=moment(upcoming.next_run, localizer) if upcoming and upcoming.next_run else "",
        schedules=[
            {"id": item.id, "what": item.schedule.describe(), "next_run": item.next_run}
            for item in planned
        ],
    )  # fmt: skip


def _status_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return status_counts(session)


def _growth(site: Site, active_now: Callable[[], int]) -> Growth:
    with site.engine.connect() as connection:
        return growth(connection, site.clock(), site.project.config.timezone, active_now=active_now)


def moment(when: datetime, localizer: Localizer) -> str:
    """A date and time (to the minute) as the locale writes it, in `when`'s own zone."""
    pattern = get_datetime_format("medium", locale=localizer.babel)
    day = format_skeleton("yMMMEd", when, locale=localizer.babel)
    clock = format_time(when, "short", tzinfo=when.tzinfo, locale=localizer.babel)
    return str(pattern).replace("{1}", day).replace("{0}", clock)


def last_sends(site: Site) -> list[SendLine]:
    """The last LAST_SENDS sends, newest first, with their sent, failed, bounced and
    complained deliveries."""
    mailings = report.mailings_page(site.engine, None, LAST_SENDS)
    ids = [mailing.id or 0 for mailing in mailings]
    # One query for the states of all of them (over the claim index), one for what came back.
    states, back = report.state_counts(site.engine, ids), came_back(site.engine, ids)
    return [
        SendLine(
            id=mailing.id or 0,
            issue=mailing.issue,
            started=mailing.created_at,
            sent=states[mailing.id or 0].get(DeliveryState.SENT, 0),
            failed=states[mailing.id or 0].get(DeliveryState.FAILED, 0),
            total=sum(states[mailing.id or 0].values()),
            paused=mailing.paused_at is not None,
            bounced=back[mailing.id or 0][0],
            complained=back[mailing.id or 0][1],
        )
        for mailing in mailings
    ]
