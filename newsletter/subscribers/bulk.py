"""Bulk statements for the import: ids handed out ahead, executemany inserts, batched lookups."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Connection,
    Row,
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlmodel import SQLModel

from newsletter.subscribers import models

if TYPE_CHECKING:
    pass


T = TypeVar("T")
SUBSCRIBER = SQLModel.metadata.tables[models.Subscriber.__tablename__]
SUBSCRIBER_TAG = SQLModel.metadata.tables[models.SubscriberTag.__tablename__]

IN_CHUNK = 5000  # Keys per `IN (...)`: well below SQLite's 32,766 bound parameters.
Found = Row[Any, Any, Any, Any, Any, Any]  # id, email_key, name, locale, timezone, attributes


# -- The database ---------------------------------------------------------------------------


def insert_many(
    connection: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows of values for the columns `names`, already converted (see converter).

    SQLite gets them through the driver's executemany as they are: SQLAlchemy's handling of
    each row's parameters would take longer than SQLite's insert itself. Other databases get a
    Core executemany of the table without types (the values are converted already), so that
    the dialect's own bulk path is used (psycopg: pipelined statements).
    """
    if connection.dialect.name == "sqlite":
        quote = connection.dialect.identifier_preparer.quote
        columns, marks = ", ".join(quote(name) for name in names), ", ".join("?" * len(names))
        connection.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", rows
        )
    else:
        untyped = sql_table(table.name, *(sql_column(name) for name in names))
        connection.execute(insert(untyped), [dict(zip(names, row, strict=True)) for row in rows])


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
