"""A parsed segment as one SQL condition on the subscriber table: the database selects.

    query = select(SUBSCRIBER.c.id).where(segment_condition(parse_segment(text), zone))

Topics are EXISTS subqueries on subscriber_tag (its primary key, subscriber then tag, answers
each in one index lookup); locale, time zone and status compare columns; attributes go through
SQLAlchemy's JSON operators (`json_extract` on SQLite, `->>` on PostgreSQL). `!=` and `not`
both include subscribers without the attribute: `company != "ACME"` is everyone but ACME's.
`subscribed before/after DATE` compares when the subscriber confirmed (else was added) with the
start of that day in the newsletter's time zone.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select

from newsletter.audience.segments import (
    All,
    Any_,
    Attribute,
    Column,
    HasAttribute,
    Not,
    Segment,
    Subscribed,
    Topic,
)
from newsletter.subscribers.models import SUBSCRIBER, SUBSCRIBER_TAG, TAG


def segment_condition(segment: Segment, zone: str) -> ColumnElement[bool]:
    """The WHERE condition that holds for exactly the subscribers in `segment`; dates are
    days in `zone` (the newsletter's time zone)."""
    match segment:
        case Topic(name):
            tagged = (
                select(SUBSCRIBER_TAG.c.subscriber_id)
                .join(TAG, TAG.c.id == SUBSCRIBER_TAG.c.tag_id)
                .where(TAG.c.name == name, SUBSCRIBER_TAG.c.subscriber_id == SUBSCRIBER.c.id)
            )
            return exists(tagged)
        case Column(name, values, negated):
            column = SUBSCRIBER.c[name]
            return column.not_in(values) if negated else column.in_(values)
        case Attribute(name, values, negated):
            value = _attribute(name)
            # Never NULL: `not company = "ACME"` must keep those without a company, as `!=` does.
            found = and_(value.is_not(None), value.in_(values))
            return not_(found) if negated else found
        case HasAttribute(name):
            return _attribute(name).is_not(None)
        case Subscribed(before, day):
            since: ColumnElement[datetime] = func.coalesce(
                SUBSCRIBER.c.confirmed_at, SUBSCRIBER.c.created_at
            )
            start = datetime.combine(day, time(), zoneinfo.ZoneInfo(zone))
            return since < start if before else since >= start + timedelta(days=1)
        case Not(term):
            return not_(segment_condition(term, zone))
        case All(terms):
            return and_(*(segment_condition(term, zone) for term in terms))
        case Any_(terms):
            return or_(*(segment_condition(term, zone) for term in terms))
    raise TypeError(f"not a segment: {segment!r}")


def _attribute(name: str) -> ColumnElement[str]:
    """An attribute's value as text (NULL when the subscriber has none)."""
    value: ColumnElement[str] = SUBSCRIBER.c.attributes[name].as_string()
    return value
