"""Bulk statements for the import: ids handed out ahead, batched lookups, merged values written
back (inserts: db.insert_many)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, bindparam, func, select, text, update

from newsletter.db import among, converter, sqlite_rows_per_statement
from newsletter.subscribers.models import SUBSCRIBER, SUBSCRIBER_TAG

T = TypeVar("T")

IN_CHUNK = 5000  # Keys per lookup (db.among): well below SQLite's 32,766 bound parameters.
MERGED = ("name", "locale", "timezone", "attributes", "updated_at")  # What a merge may change.
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
        query = select(*columns).where(among(SUBSCRIBER.c.email_key, chunk, connection.dialect))
        for row in connection.execute(query):
            found[row.email_key] = row
    return found


def tag_pairs(connection: Connection, ids: list[int]) -> set[tuple[int, int]]:
    """(subscriber id, tag id) for the tags these subscribers already have."""
    pairs: set[tuple[int, int]] = set()
    query = select(SUBSCRIBER_TAG.c.subscriber_id, SUBSCRIBER_TAG.c.tag_id)
    for chunk in chunks(ids):
        rows = connection.execute(
            query.where(among(SUBSCRIBER_TAG.c.subscriber_id, chunk, connection.dialect))
        )
        pairs.update((subscriber, tag) for subscriber, tag in rows)
    return pairs


def update_subscribers(connection: Connection, changes: list[dict[str, Any]]) -> None:
    """Write merged values (MERGED, by `subscriber_id`) to existing subscribers.

    On SQLite, many subscribers to a statement (UPDATE ... FROM VALUES, SQLite 3.33 and newer):
    FTS5 writes the search index at the end of each statement that changes a name, so a
    statement a row would cost each renamed subscriber a write of it (twice the import's time).
    """
    if connection.dialect.name != "sqlite" or sqlite3.sqlite_version_info < (3, 33):
        by_id = SUBSCRIBER.c.id == bindparam("subscriber_id")
        connection.execute(update(SUBSCRIBER).where(by_id), changes)
        return
    convert = [converter(SUBSCRIBER.c[name].type, connection.dialect) for name in MERGED]
    rows = [
        (
            change["subscriber_id"],
            *(to(change[name]) for to, name in zip(convert, MERGED, strict=True)),
        )
        for change in changes
    ]
    assignments = ", ".join(f"{name} = merged.column{n}" for n, name in enumerate(MERGED, 2))
    marks = "(" + ", ".join("?" * (len(MERGED) + 1)) + ")"
    for chunk in chunks(rows, sqlite_rows_per_statement(connection, len(MERGED) + 1)):
        values = ", ".join([marks] * len(chunk))
        connection.exec_driver_sql(
            f"UPDATE subscriber SET {assignments} FROM (VALUES {values}) AS merged "
            "WHERE subscriber.id = merged.column1",
            tuple(value for row in chunk for value in row),
        )


def chunks(items: list[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
