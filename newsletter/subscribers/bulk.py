"""Bulk statements for the import: ids handed out ahead, batched lookups (inserts: db.insert_many)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, func, select, text

from newsletter.subscribers.models import SUBSCRIBER, SUBSCRIBER_TAG

T = TypeVar("T")

IN_CHUNK = 5000  # Keys per `IN (...)`: well below SQLite's 32,766 bound parameters.
Found = Row[Any, Any, Any, Any, Any, Any]  # id, email_key, name, locale, timezone, attributes


# -- The database ---------------------------------------------------------------------------


def new_ids(connection: Connection, count: int) -> list[int]:
    """`count` unused subscriber ids, so tags and consent events can be inserted in bulk too."""
    if connection.dialect.name == "postgresql":
        allocate = text(
            "SELECT nextval(pg_get_serial_sequence('subscriber', 'id')) FROM generate_series(1, :count)"
        )
        return list(connection.execute(allocate, {"count": count}).scalars())
    # SQLite: the import holds the write lock (see db.lock_for_writing), so nobody else can take these.
    top = connection.execute(select(func.max(SUBSCRIBER.c.id))).scalar_one()
    return list(range((top or 0) + 1, (top or 0) + 1 + count))


def existing_subscribers(connection: Connection, keys: list[str]) -> dict[str, Found]:
    """The subscribers among `keys` (address keys) that already exist, by key."""
    columns = [
        SUBSCRIBER.c[name]
        for name in ("id", "email_key", "name", "locale", "timezone", "attributes")
    ]
    found: dict[str, Found] = {}
    for chunk in chunks(keys):
        for row in connection.execute(select(*columns).where(SUBSCRIBER.c.email_key.in_(chunk))):
            found[row.email_key] = row
    return found


def tag_pairs(connection: Connection, ids: list[int]) -> set[tuple[int, int]]:
    """(subscriber id, tag id) for the tags these subscribers already have."""
    pairs: set[tuple[int, int]] = set()
    query = select(SUBSCRIBER_TAG.c.subscriber_id, SUBSCRIBER_TAG.c.tag_id)
    for chunk in chunks(ids):
        rows = connection.execute(query.where(SUBSCRIBER_TAG.c.subscriber_id.in_(chunk)))
        pairs.update((subscriber, tag) for subscriber, tag in rows)
    return pairs


def chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]
