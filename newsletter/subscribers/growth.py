"""How many subscribers were active at the end of each day or week: the dashboard's chart.

    growth      the chart's points: one a day for a list at most 8 weeks old (14 at least),
                else one a week (ISO weeks, Monday to Sunday, in the newsletter's time zone;
                12 to 52 of them); each the number active at the point's end, the last now
    active_at   the number active at each of some moments

A subscriber counts from when they joined until they left. Joined: `confirmed_at`, or, for one
imported or added without a confirmation, `created_at` (as the segment language's `subscribed`
reads it); pending ones never count. Left: `unsubscribed_at`, which every way out sets
(registry.unsubscribe, inbound/policy.py: unsubscribed, bounced, complained). One that left
while still pending counts from when it was added until it left (its row no longer says it was
pending). Forgotten subscribers are gone from the table, and so from the history.

The numbers are counted back from the number active now (the status count the dashboard shows
anyway): at each moment, those active now, less those who joined since, plus those who left
since. So only the rows of the chart's window are read, each once, in one statement of range
counts over three partial indexes (ix_subscriber_confirmed_at, ix_subscriber_unconfirmed,
ix_subscriber_left: the rows of those who confirmed, who joined unconfirmed, who left), never
the whole table, nor once per point.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, bindparam, func, select

from newsletter.db import UTCDateTime
from newsletter.subscribers.models import SUBSCRIBER

DAILY_UNTIL = 56
"""A list at most this many days old gets a point a day (about 52 at most); older, a week."""
FEWEST_DAYS = 14
FEWEST_WEEKS = 12
MOST_WEEKS = 52


@dataclass(frozen=True)
class Point:
    """The number of active subscribers at the end of one day or week."""

    day: date
    """The point's last day in the newsletter's time zone: a Sunday for a week; today for
    the last point, which is counted up to now."""
    end: datetime
    """The moment counted: midnight after `day` in the newsletter's zone, or now."""
    active: int


@dataclass(frozen=True)
class Growth:
    """The chart: `unit` is "day" or "week"; no points when no subscriber ever joined."""

    unit: str
    points: list[Point]


ActiveNow = int | Callable[[], int] | None
"""The number of subscribers whose status is active, when the caller has it (else it is
counted), or a function that gives it, asked once the chart's own counts are in (the
dashboard counts it at the same time on another connection)."""


def growth(
    connection: Connection, now: datetime, zone: str, *, active_now: ActiveNow = None
) -> Growth:
    """The active subscribers at the end of each day or week up to now (see the module's
    docstring for the window), counted back from `active_now`."""
    first = first_joined(connection)
    if first is None:
        return Growth("day", [])
    local = ZoneInfo(zone)
    unit, days = point_days(first, now, local)
    ends = [min(now, _midnight_after(day, local)) for day in days]
    counts = active_at(connection, ends, active_now=active_now)
    days[-1] = now.astimezone(local).date()  # This week is counted up to now: today.
    return Growth(unit, [Point(*point) for point in zip(days, ends, counts, strict=True)])


def point_days(first: datetime, now: datetime, zone: ZoneInfo) -> tuple[str, list[date]]:
    """("day" or "week", the last day of each point, oldest first) for a list whose first
    subscriber joined at `first`."""
    today = now.astimezone(zone).date()
    age = (today - first.astimezone(zone).date()).days + 1  # Days it has existed, today too.
    if age <= DAILY_UNTIL:
        count = max(age, FEWEST_DAYS)
        return "day", [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    count = min(max(math.ceil(age / 7), FEWEST_WEEKS), MOST_WEEKS)
    sunday = today + timedelta(days=6 - today.weekday())  # This week's end.
    return "week", [sunday - timedelta(weeks=back) for back in range(count - 1, -1, -1)]


def _midnight_after(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), zone)


def first_joined(connection: Connection) -> datetime | None:
    """When the first subscriber who ever counted joined (None: none ever did): two index
    lookups."""
    joined = SUBSCRIBER.c.confirmed_at
    confirmed = select(func.min(joined)).where(joined.is_not(None))  # As the index holds them.
    unconfirmed = select(func.min(SUBSCRIBER.c.created_at)).where(*_UNCONFIRMED)
    found = [connection.execute(query).scalar_one() for query in (confirmed, unconfirmed)]
    return min((moment for moment in found if moment is not None), default=None)


_UNCONFIRMED = (SUBSCRIBER.c.confirmed_at.is_(None), SUBSCRIBER.c.status != "pending")
"""Joined without a confirmation (imported, or added as active): counted from created_at."""


def active_at(
    connection: Connection, ends: Sequence[datetime], *, active_now: ActiveNow = None
) -> list[int]:
    """The number of subscribers active at each of `ends` (ascending), in one statement."""
    if not ends:
        return []
    size = len(ends)
    found = connection.execute(
        _changes(size), {f"end_{number}": end for number, end in enumerate(ends)}
    ).one()
    if active_now is None:
        active: int = connection.execute(
            select(func.count()).select_from(SUBSCRIBER).where(SUBSCRIBER.c.status == "active")
        ).scalar_one()
    else:
        active = active_now() if callable(active_now) else active_now
    # Active at an end: active now, less those who joined since, plus those who left since.
    counts = []
    for at in reversed(range(size)):
        active += found[2 * size + at] - found[at] - found[size + at]
        counts.append(active)
    return counts[::-1]


@functools.cache
def _changes(size: int) -> Select[Any]:
    """The statement counting, from each of `size` ends (parameters end_0, end_1...) to the
    next (the last: to any time after), the subscribers who joined confirmed, those who joined
    unconfirmed, and those who left: 3 * size numbers, so that each row is read once. Made
    once per size (its 3 * size subqueries are slow to build)."""
    ends = [bindparam(f"end_{number}", type_=UTCDateTime()) for number in range(size)]
    ranges = list(zip(ends, [*ends[1:], None], strict=True))
    confirmed = [_between(SUBSCRIBER.c.confirmed_at, *span) for span in ranges]
    unconfirmed = [_between(SUBSCRIBER.c.created_at, *span, *_UNCONFIRMED) for span in ranges]
    left = [_between(SUBSCRIBER.c.unsubscribed_at, *span) for span in ranges]
    return select(*confirmed, *unconfirmed, *left)


def _between(column: Any, low: Any, high: Any | None, *where: Any) -> Any:
    """The number of subscribers whose `column` is at or after `low` and before `high`."""
    bounds = [column >= low] if high is None else [column >= low, column < high]
    return select(func.count()).select_from(SUBSCRIBER).where(*bounds, *where).scalar_subquery()
