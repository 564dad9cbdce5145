"""A send over time: its clicks hour by hour, and how its deliveries went out.

    HOURS              the clicks report the first 48 hours after the send started, by hour
    Hour               human and all clicks of one of those hours
    delivery_curve     deliveries sent so far, at most about CURVE_POINTS points from the start

Both hold a fixed number of counters however many clicks or deliveries there are: clicks are
counted into their hour as they stream by, deliveries are counted per sent time by SQL and
added up into steps of a round length (a second, a minute, an hour...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from newsletter.deliver.models import DELIVERY, DeliveryState

HOURS = 48
CURVE_POINTS = 100
STEPS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400)
"""Round lengths of a step of the delivery curve, in seconds."""


@dataclass
class Hour:
    """The clicks of one hour after the send started (hour 0: the first)."""

    hour: int
    human: int = 0
    all: int = 0


def empty_hours() -> list[Hour]:
    """One Hour for each of the first HOURS hours, with no clicks."""
    return [Hour(hour) for hour in range(HOURS)]


def hour_of(at: datetime, started: datetime) -> int | None:
    """The hour after `started` that `at` falls in, None outside the first HOURS hours."""
    elapsed = at - started
    if elapsed < timedelta(0) or elapsed >= timedelta(hours=HOURS):
        return None
    return int(elapsed.total_seconds() // 3600)


@dataclass(frozen=True)
class CurvePoint:
    """Deliveries sent by `seconds` after the send started."""

    seconds: int
    sent: int


def delivery_curve(engine: Engine, mailing_id: int, started: datetime) -> list[CurvePoint]:
    """The mailing's deliveries sent so far, cumulative, from (0, 0) to the last one sent, in
    steps of a round length ([] when nothing was sent)."""
    mine = (
        DELIVERY.c.mailing_id == mailing_id,
        DELIVERY.c.state == DeliveryState.SENT,
        DELIVERY.c.sent_at.is_not(None),
    )
    per_time = (
        select(DELIVERY.c.sent_at, func.count())
        .where(*mine)
        .group_by(DELIVERY.c.sent_at)
        .order_by(DELIVERY.c.sent_at)
    )
    with engine.connect() as connection:
        last = connection.execute(select(func.max(DELIVERY.c.sent_at)).where(*mine)).scalar()
        if last is None:
            return []
        step = curve_step((last - started).total_seconds())
        points = {0: 0}
        total = 0
        for sent_at, count in connection.execute(per_time.execution_options(yield_per=1000)):
            total += count
            elapsed = max((sent_at - started).total_seconds(), 0.0)
            points[math.ceil(elapsed / step) * step] = total
    return [CurvePoint(int(seconds), sent) for seconds, sent in sorted(points.items())]


def curve_step(span: float) -> int:
    """The shortest round step (in seconds) that covers `span` seconds in CURVE_POINTS steps."""
    for step in STEPS:
        if step * CURVE_POINTS >= span:
            return step
    return STEPS[-1] * math.ceil(span / (STEPS[-1] * CURVE_POINTS))
