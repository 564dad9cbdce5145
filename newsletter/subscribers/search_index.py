"""Finding subscribers by part of an address or a name, and the index of trigrams that makes
it fast (made by migration 0014, or by `newsletter db upgrade` when that could not).

What a search matches is the same with the index and without it: the address's comparison
key contains the text case-folded (keys are case-folded, see addresses.address_key), or the
name lowered by the database's lower() contains the text case-folded or lowered the same way
(so a name is found as it is written: `Weiß` by `Weiß`, which folds to `weiss`). `%`, `_` and
`\\` are matched as themselves. The databases' lower() differ: SQLite's lowers A-Z only;
PostgreSQL's every letter its locale knows (a database made with the C locale: A-Z only).
tests/test_search_index.py pins both down.

How it is found, for texts of three characters or more:
- SQLite: an FTS5 table with the trigram tokenizer over the key and the name, kept in step by
  triggers. It is asked for the rows that have every trigram of the text (its case folding
  covers the database's lower()), in id order; each row is then checked with the condition
  above, which decides. A page stops at its last row, however many rows match.
- PostgreSQL: GIN indexes of the pg_trgm extension on `email_key` and `lower(name)`, which the
  planner uses for the same LIKE condition.
Shorter texts, and databases without the index, read every row.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Integer, column, func, or_, table
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import Select
from sqlmodel import col

from newsletter.subscribers.models import SUBSCRIBER, Subscriber

SelectT = TypeVar("SelectT", bound=Select[Any])

SHORTEST = 3  # A trigram: shorter texts have none to look up.
MOST_TRIGRAMS = 24  # Looked up for a long text; the check of each row found decides anyway.

SQLITE_TABLE = "subscriber_search"
# The FTS5 table and the shadow tables SQLite keeps its index in.
SQLITE_TABLES = frozenset(
    {SQLITE_TABLE} | {f"{SQLITE_TABLE}_{p}" for p in ("data", "idx", "config")}
)
SQLITE_INDEX = (
    # External content: the index only, read from `subscriber` by `rebuild`. No positions
    # (detail=none) and no sizes: 2.5 times smaller than with them, faster to fill; the
    # check of each row found decides whether it matches.
    f"CREATE VIRTUAL TABLE {SQLITE_TABLE} USING fts5(email_key, name, content='subscriber', "
    "content_rowid='id', tokenize='trigram', detail='none', columnsize=0)",
    f"CREATE TRIGGER {SQLITE_TABLE}_insert AFTER INSERT ON subscriber BEGIN "
    f"INSERT INTO {SQLITE_TABLE} (rowid, email_key, name) "
    "VALUES (new.id, new.email_key, new.name); END",
    f"CREATE TRIGGER {SQLITE_TABLE}_delete AFTER DELETE ON subscriber BEGIN "
    f"INSERT INTO {SQLITE_TABLE} ({SQLITE_TABLE}, rowid, email_key, name) "
    "VALUES ('delete', old.id, old.email_key, old.name); END",
    # Only when an indexed value changes: an import's merge sets names to what they were.
    f"CREATE TRIGGER {SQLITE_TABLE}_update AFTER UPDATE OF id, email_key, name ON subscriber "
    "WHEN old.id IS NOT new.id OR old.email_key IS NOT new.email_key OR old.name IS NOT new.name "
    f"BEGIN INSERT INTO {SQLITE_TABLE} ({SQLITE_TABLE}, rowid, email_key, name) "
    "VALUES ('delete', old.id, old.email_key, old.name); "
    f"INSERT INTO {SQLITE_TABLE} (rowid, email_key, name) "
    "VALUES (new.id, new.email_key, new.name); END",
    f"INSERT INTO {SQLITE_TABLE} ({SQLITE_TABLE}) VALUES ('rebuild')",
)
POSTGRESQL_INDEXES = {
    "ix_subscriber_email_key_trgm": "email_key",
    "ix_subscriber_name_trgm": "lower(name)",
}
_SEARCH = table(SQLITE_TABLE, column("rowid", Integer), column(SQLITE_TABLE))


# -- The search -----------------------------------------------------------------------------


def containing(
    connection: Connection, query: SelectT, text: str
) -> tuple[SelectT, ColumnElement[int]]:
    """`query` (of subscribers) narrowed to those whose address or name contains `text`, and
    the column that orders it by subscriber id (the index's, when the index is read)."""
    folded = text.casefold()
    pattern = _like(folded)
    conditions = [
        col(Subscriber.email_key).like(pattern, escape="\\"),
        func.lower(col(Subscriber.name)).like(pattern, escape="\\"),
    ]
    if not text.isascii():  # Lowered as the database lowers names, which case folding is not.
        lowered = func.lower(_like(text))
        conditions.append(func.lower(col(Subscriber.name)).like(lowered, escape="\\"))
    query = query.where(or_(*conditions))
    if (
        len(text) < SHORTEST
        or connection.dialect.name != "sqlite"  # PostgreSQL's planner uses its index itself.
        or not has_index(connection)
    ):
        return query, SUBSCRIBER.c.id
    wanted = _all_trigrams(folded)
    if not text.isascii() and (written := _all_trigrams(text)) != wanted:
        wanted = f"({wanted}) OR ({written})"
    narrowed = (
        query.select_from(_SEARCH)
        .join(Subscriber, col(Subscriber.id) == _SEARCH.c.rowid)
        .where(_SEARCH.c[SQLITE_TABLE].op("MATCH")(wanted))
    )
    # Ordered by the index's rowid, which it reads in order: by id, the rows found would be
    # sorted first, every one of them.
    return narrowed, _SEARCH.c.rowid


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its `%`, `_` and `\\` taken as themselves."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _all_trigrams(text: str) -> str:
    """An FTS5 query for the rows that have every trigram of `text` (at most MOST_TRIGRAMS of
    them, spread over the text), each quoted: nothing in `text` is taken as query syntax."""
    trigrams = list(dict.fromkeys(text[start : start + 3] for start in range(len(text) - 2)))
    if len(trigrams) > MOST_TRIGRAMS:
        step = (len(trigrams) - 1) / (MOST_TRIGRAMS - 1)
        trigrams = [trigrams[round(n * step)] for n in range(MOST_TRIGRAMS)]
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


# -- The index ------------------------------------------------------------------------------


def has_index(connection: Connection) -> bool:
    """Whether the database has the search index."""
    if connection.dialect.name == "sqlite":
        found = connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SQLITE_TABLE,)
        )
        return found.first() is not None
    names = ", ".join(f"to_regclass('{name}')" for name in POSTGRESQL_INDEXES)
    return all(connection.exec_driver_sql(f"SELECT {names}").one())


def make_index(connection: Connection) -> str | None:
    """Make the search index if it is missing, filled from the subscribers there are; None
    when it is there, else why it cannot be made (the database's words), and nothing changed.

    SQLite needs version 3.34 or newer (the trigram tokenizer); PostgreSQL the pg_trgm
    extension, which this creates when the user may (see docs/subscribers.md).
    """
    if has_index(connection):
        return None
    if connection.dialect.name == "sqlite":
        try:
            connection.exec_driver_sql(SQLITE_INDEX[0])
        except OperationalError as error:  # No FTS5, or SQLite before 3.34: no trigrams.
            return _first_line(error)
        for statement in SQLITE_INDEX[1:]:
            connection.exec_driver_sql(statement)
        return None
    try:
        with connection.begin_nested():  # A refused statement must not end the transaction.
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as error:
        return _first_line(error)
    schema = connection.exec_driver_sql(
        "SELECT namespace.nspname FROM pg_extension extension JOIN pg_namespace namespace "
        "ON namespace.oid = extension.extnamespace WHERE extension.extname = 'pg_trgm'"
    ).scalar_one()
    operators = connection.dialect.identifier_preparer.quote_identifier(schema) + ".gin_trgm_ops"
    for name, expression in POSTGRESQL_INDEXES.items():
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON subscriber USING gin ({expression} {operators})"
        )
    return None


def drop_index(connection: Connection) -> None:
    """Remove the search index (PostgreSQL's extension stays: something else may use it)."""
    if connection.dialect.name == "sqlite":
        for trigger in ("update", "delete", "insert"):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SQLITE_TABLE}_{trigger}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")
        return
    for name in POSTGRESQL_INDEXES:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")


def _first_line(error: DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0]
