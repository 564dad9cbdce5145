"""The database: engine, SQLite settings, timezone-aware timestamps, and bulk writes.

SQLite by default (WAL, foreign keys, a busy timeout so concurrent writers wait instead of
failing); the same models and migrations run on PostgreSQL. The schema's version and its
migrations are db_schema.py's.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import select
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.types import TypeEngine

from newsletter.config import Project
from newsletter.database_errors import BACKENDS, explain, unusable_url
from newsletter.errors import DatabaseGone, NewsletterError

log = logging.getLogger(__name__)
T = TypeVar("T")
# The tables the migrations up to db_schema.HEAD make (tests/test_db.py keeps them in step too).
TABLES = frozenset(
    {
        "subscriber", "tag", "subscriber_tag", "consent_event", "suppression", "mailing",
        "mailing_edition", "delivery", "apscheduler_jobs", "schedule_firing", "service_lease",
        "inbound_message", "inbound_event", "tracked_link", "link_click", "edition_open",
        "sequence_step", "sequence_member", "sequence_delivery", "api_key", "api_request",
        "admin_user", "admin_session", "admin_audit", "admin_request", "send_pace",
    }
)  # fmt: skip
BUSY_TIMEOUT_MS = 10_000
# Rows written by one statement of a bulk write on SQLite (insert_many, the import's merge).
SQLITE_ROWS_PER_STATEMENT = 500


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC (SQLite has no time zones; PostgreSQL gets timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give every timestamp a time zone")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def database_url(project: Project) -> str:
    """The configured URL with a relative SQLite path made relative to the project folder."""
    try:
        url = make_url(project.config.database_url)
    except (ArgumentError, ValueError) as error:  # A port that is no number, say.
        raise unusable_url(project.config.database_url, error) from None
    if (
        url.get_backend_name() == "sqlite"
        and url.database
        and url.database != ":memory:"
        and not Path(url.database).is_absolute()
    ):
        url = url.set(database=str(project.root / url.database))
    return url.render_as_string(hide_password=False)


def create_db_engine(url: str) -> Engine:
    """An engine for `url`; SQLite connections get WAL, foreign keys and a busy timeout.

    A PostgreSQL connection is checked as it leaves the pool: after a restart of the server,
    every pooled connection is cut, and without the check the first statement on each failed
    (a reader's first click after it answered 503). A broken one is replaced, unseen. The
    check is a round trip only when the server said something to the idle connection (see
    _check_if_told).

    DatabaseError (one line: the URL, the cause, the fix) for an unknown scheme or a missing
    driver now, and for a database that cannot be opened or written when it is used.
    """
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError, ValueError) as error:
        raise unusable_url(url, error) from None
    if engine.dialect.name not in BACKENDS:
        raise unusable_url(url, ArgumentError(engine.dialect.name))
    event.listen(engine, "handle_error", functools.partial(explain, engine.url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_settings)
    else:
        event.listen(engine, "checkout", functools.partial(_check_if_told, engine.dialect))
    return engine


def _check_if_told(dialect: Dialect, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pre-ping, for a pooled PostgreSQL connection the server has said something
    to while it was idle: a server that stops, restarts or ends the session sends a FATAL
    message and closes it, and an idle session is told nothing else. A broken connection
    raises DisconnectionError, and the pool replaces it, unseen.

    A delivery worker takes a connection out for each statement, every few milliseconds: a
    round trip each time (SQLAlchemy's pool_pre_ping) doubled the round trips of its claims
    and records. Looking whether the socket has anything to read costs none.
    """
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        if not poller.poll(0):
            return
        dialect.do_ping(dbapi_connection)
    except (dialect.loaded_dbapi.Error, OSError, ValueError) as error:
        raise DisconnectionError(str(error)) from error


def _sqlite_settings(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for work that is one statement, committed as it runs.

    On PostgreSQL the connection is in autocommit: psycopg spends a round trip on BEGIN and
    another on COMMIT or ROLLBACK around each transaction, which for a worker's claims, reads
    and records of outcomes cost as much as the statements themselves. On SQLite, an ordinary
    transaction (engine.begin()).
    """
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def among(column: ColumnElement[T], values: Iterable[T], dialect: Dialect) -> ColumnElement[bool]:
    """`column IN values`. On PostgreSQL as one array parameter (`= ANY(...)`) of the column's
    type: one statement to parse and plan whatever the number of values (a list of 50 made a
    new statement each time; of 5,000, an import's batch, a tenth of the import's time went to
    compiling and parsing it), and the rows found by key. SQLite takes at most 32,766
    parameters: callers with more give them in parts."""
    values = list(values)
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def converter(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of `type_` before handing it to the database driver."""
    return type_.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)


def lock_for_writing(connection: Connection) -> None:
    """On SQLite, take the write lock now (waiting out the busy timeout), not at the first write.

    A transaction that reads before it writes would otherwise fail at once when another
    process writes meanwhile, instead of waiting its turn; and ids read under the lock stay
    valid until commit.
    """
    if connection.dialect.name != "sqlite":
        return
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except OperationalError as error:
        hint = "try again when the other command has finished"
        raise NewsletterError(
            "the database is busy: another command is writing to it", hint=hint
        ) from error


STATISTICS_AFTER = 1000
"""Rows a bulk write adds before PostgreSQL's planner statistics of its tables are refreshed."""


def refresh_statistics(connection: Connection, written: int, *tables: str) -> None:
    """After a bulk write of `written` rows, ANALYZE those of `tables` on PostgreSQL that the
    planner knows too little about: never analyzed, or `written` is over a tenth of the rows
    it counts (a sample of 30,000 rows: a fraction of a second for a million).

    Autovacuum does the same about a minute later. Until then the planner knows nothing of the
    rows just written: after an import, a send that started at once read every subscriber (a
    sequential scan) for each batch of 200 it claimed, where the primary key finds them. A
    write that adds little to a large table (an API request to one with a million) leaves it
    to autovacuum. SQLite plans without statistics by design.
    """
    if connection.dialect.name != "postgresql" or written < STATISTICS_AFTER:
        return
    for table in tables:
        if table not in TABLES:
            raise ValueError(f"not a table of the newsletter: {table!r}")
        counted = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = %(table)s::regclass", {"table": table}
        ).scalar_one()
        if counted < 0 or written * 10 > counted:  # -1: never analyzed.
            connection.exec_driver_sql(f"ANALYZE {table}")


def patiently(
    attempt: Callable[[], T],
    *,
    patience: float,
    pause: float,
    what: str,
    on: tuple[type[Exception], ...] = (OperationalError, NewsletterError),
    stop: Callable[[], bool] | None = None,
) -> T:
    """`attempt()` (a transaction), tried again while the database stays busy (another process
    holds the write lock past the busy timeout) or away, for up to `patience` seconds; then
    its error. `on`: the errors tried again (the mail server's absence, say); `stop`: asked
    before each new try, the error raised at once when it says so (Ctrl-C during an outage).

    For writes that must not be lost to a busy moment: outcomes of messages that went out, a
    firing that would otherwise send nothing that week. The wait is logged when it starts,
    then every SAY_EVERY seconds, not at each attempt.
    """
    deadline, said = time.monotonic() + patience, -SAY_EVERY
    while True:
        try:
            return attempt()
        except on as error:
            if time.monotonic() > deadline or (stop is not None and stop()):
                raise
            if time.monotonic() - said >= SAY_EVERY:
                log.warning("%s: %s; trying again", what, error)
                said = time.monotonic()
            time.sleep(pause)


SAY_EVERY = 30.0
"""Seconds between two log lines of the same wait (patiently)."""


OUTAGE = 300.0
"""How long a send under way waits for a database server that went away (a restart, a
failover) before it gives up: a delivery's lease, which its claims outlive meanwhile."""


def through_outage(
    attempt: Callable[[], T], what: str, stop: Callable[[], bool] | None = None
) -> T:
    """`attempt()`, tried again each second while the database server is away (DatabaseGone),
    for up to OUTAGE or until `stop()`; for statements a send makes as it goes, which may run
    twice (claims, reads, its pace). Every other error at once, as at the start of a send."""
    return patiently(attempt, patience=OUTAGE, pause=1.0, what=what, on=(DatabaseGone,), stop=stop)


def sqlite_rows_per_statement(connection: Connection, values: int) -> int:
    """How many rows of `values` values one statement of a bulk write on SQLite takes:
    SQLITE_ROWS_PER_STATEMENT, fewer when SQLite binds fewer values (999 before 3.32)."""
    driver = cast(sqlite3.Connection, connection.connection.dbapi_connection)
    most = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(SQLITE_ROWS_PER_STATEMENT, most // values))


def insert_many(
    connection: Connection,
    table: Table,
    names: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    skip_existing: bool = False,
) -> int:
    """Insert rows of values for the columns `names`, already converted (see converter); how
    many were inserted. With `skip_existing`, rows a UNIQUE constraint already has are skipped.

    SQLite gets them through the driver as they are, many rows to a statement: SQLAlchemy's
    handling of each row's parameters would take longer than SQLite's insert itself, and FTS5
    writes what a statement's triggers gave it at the statement's end (its savepoint), so a
    statement per row would make every new subscriber a write of the search index (a million
    subscribers inserted so took 2.3 times as long).

    PostgreSQL gets them through `COPY` (psycopg's copy; its pipelined executemany of INSERTs
    took 3.6 times as long as SQLite for an import): straight into the table, or, with
    `skip_existing`, into a temporary staging table of the same columns, then merged with one
    `INSERT ... SELECT ... ON CONFLICT DO NOTHING`.
    """
    if not rows:
        return 0
    if connection.dialect.name == "sqlite":
        quote = connection.dialect.identifier_preparer.quote
        columns, marks = ", ".join(quote(name) for name in names), ", ".join("?" * len(names))
        verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
        start = f"{verb} INTO {quote(table.name)} ({columns}) VALUES "
        step = sqlite_rows_per_statement(connection, len(names))
        inserted = 0
        for first in range(0, len(rows), step):
            chunk = rows[first : first + step]
            sql = start + ", ".join([f"({marks})"] * len(chunk))
            flat = tuple(chain.from_iterable(chunk))
            inserted += connection.exec_driver_sql(sql, flat).rowcount
        return inserted
    return _copy_many(connection, table, names, rows, skip_existing=skip_existing)


def _copy_many(
    connection: Connection,
    table: Table,
    names: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    skip_existing: bool,
) -> int:
    """insert_many on PostgreSQL, through COPY (see there). The driver's errors come as
    SQLAlchemy's, as from any other statement (an IntegrityError for a duplicate key)."""
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    target = quote(table.name)
    if not skip_existing:
        _run(connection, f"COPY {target} ({columns}) FROM STDIN", rows)
        return len(rows)
    # The named columns of the table, without its constraints or defaults: one staging table
    # a column list and session, emptied at commit and after each merge.
    staging = quote(f"staging_{table.name}_{hashlib.sha1(columns.encode()).hexdigest()[:12]}")
    _run(
        connection,
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS "
        f"AS SELECT {columns} FROM {target} WITH NO DATA",
    )
    _run(connection, f"COPY {staging} ({columns}) FROM STDIN", rows)
    merge = (
        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {staging} ON CONFLICT DO NOTHING"
    )
    inserted = _run(connection, merge)
    _run(connection, f"TRUNCATE {staging}")
    return inserted


def _run(connection: Connection, statement: str, rows: list[tuple[Any, ...]] | None = None) -> int:
    """`statement` on the connection's driver cursor, COPY ... FROM STDIN fed `rows`; the row
    count."""
    driver = connection.dialect.loaded_dbapi
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if rows is None:
            cursor.execute(statement)
        else:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        return int(cursor.rowcount)
    except driver.Error as error:
        raise DBAPIError.instance(
            statement, None, error, driver.Error, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()
