"""Subscribers as CSV: what `subscribers export` writes and `subscribers import` reads back.

Each attribute key becomes a column of its own, so an export imports back without loss; a cell
a spreadsheet would run as a formula gets a leading quote (formulas.py), which the import
removes again.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from typing import Any, TextIO

from sqlmodel import Session, col, select

from newsletter.subscribers.formulas import neutralise
from newsletter.subscribers.models import Subscriber, SubscriberTag, Tag

EXPORT_FIELDS = (
    "email",
    "name",
    "locale",
    "timezone",
    "status",
    "tags",
    "created_at",
    "consent_at",
    "consent_method",
    "consent_source",
)


def export_csv(
    session: Session, out: TextIO, *, status: str | None = None, batch: int = 10_000
) -> int:
    """Write subscribers as CSV (the import reads it back); returns the number written.

    Each attribute key becomes a column of its own, so an export imports back without loss.
    A cell a spreadsheet would run as a formula gets a leading quote (newsletter/subscribers/
    formulas.py), which the import removes again.
    """
    writer = csv.writer(out)
    keys = _attribute_keys(session, status)
    writer.writerow([neutralise(cell) for cell in (*EXPORT_FIELDS, *keys)])
    names = dict(session.exec(select(Tag.id, Tag.name)).all())
    written = last = 0
    while True:
        query = (
            select(Subscriber)
            .where(col(Subscriber.id) > last)
            .order_by(col(Subscriber.id))
            .limit(batch)
        )
        if status:
            query = query.where(Subscriber.status == status)
        rows = list(session.exec(query))
        if not rows:
            return written
        ids = [row.id for row in rows]
        tags: dict[int, list[str]] = {}
        for subscriber_id, tag_id in session.exec(
            select(SubscriberTag.subscriber_id, SubscriberTag.tag_id).where(
                col(SubscriberTag.subscriber_id).in_(ids)
            )
        ):
            tags.setdefault(subscriber_id, []).append(names[tag_id])
        for row in rows:
            assert row.id is not None
            cells = (
                row.email,
                row.name,
                row.locale,
                row.timezone,
                row.status,
                "|".join(sorted(tags.get(row.id, []))),
                _iso(row.created_at),
                _iso(row.consent_at),
                row.consent_method,
                row.consent_source,
                *(_cell(row.attributes.get(key)) for key in keys),
            )
            writer.writerow([neutralise(cell) for cell in cells])
        written += len(rows)
        last = rows[-1].id or last


def _attribute_keys(session: Session, status: str | None) -> list[str]:
    """Every attribute key in use, in order of first appearance (fields' names excluded)."""
    query = select(Subscriber.attributes)
    if status:
        query = query.where(Subscriber.status == status)
    keys: dict[str, None] = {}
    for attributes in session.exec(query.execution_options(yield_per=10_000)):
        keys.update(dict.fromkeys(attributes))
    return [key for key in keys if key not in EXPORT_FIELDS]


def _cell(value: Any) -> str:
    """An attribute value as CSV text (imported attributes are text; others as JSON)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""
