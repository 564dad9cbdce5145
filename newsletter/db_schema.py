"""The schema's version: Alembic's migrations (newsletter/migrations), the database brought up
to this version's schema (`upgrade`, one transaction, on SQLite with the foreign keys off and
checked), and the check that every command makes before it uses the database
(`require_current`: one line that says how to fix an outdated or foreign schema).

The revision is read with plain SQL: a command that only checks it does not import Alembic.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from newsletter.database_errors import missing_table, newer_schema, shown_url
from newsletter.db import TABLES, lock_for_writing
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0021"  # The newest migration in MIGRATIONS; tests/test_db.py keeps the two in step.


def _alembic(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is a ConfigParser: a literal % (an encoded path, a password) must be %%.
    config.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def head_revision() -> str:
    """The newest schema revision the code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database).

    Read with plain SQL, so that commands do not import Alembic (a fifth of a second) just
    to check the schema; tests/test_db.py checks that HEAD is Alembic's head.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(found) if found is not None else None


def known_revision(engine: Engine) -> str | None:
    """The revision the database is at; DatabaseError when a newer version of newsletter
    migrated it (this code has no migration of that name, and must not write to it)."""
    current = current_revision(engine)
    known = {path.name.split("_", 1)[0] for path in MIGRATIONS.glob("versions/0*.py")}
    if current is not None and current not in known:
        raise newer_schema(engine.url, current, HEAD)
    if current == HEAD:
        missing = sorted(TABLES - set(inspect(engine).get_table_names()))
        if missing:
            raise missing_table(engine.url, missing[0])
    return current


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to `revision`; (before, after)."""
    from alembic import command

    before = known_revision(engine)
    with migrating(engine) as connection:
        config = _alembic(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return before, current_revision(engine)


@contextmanager
def migrating(engine: Engine) -> Iterator[Connection]:
    """A transaction for migrations, all or nothing. On SQLite: the driver begins its own
    transactions only before INSERT, UPDATE and DELETE, so a migration's CREATE and DROP
    statements ran outside any and stayed when it failed; here one transaction holds them
    all. And the foreign keys are off meanwhile, then checked before the commit, as SQLite's
    own procedure for schema changes says: a migration that changes what SQLite cannot ALTER
    copies the table and drops the old one, and with the keys on, DROP TABLE first deletes its
    rows, which nulls or deletes every row of another table that points at them (the clicks
    and opens of each delivery). Pragmas are set outside the transaction (inside it they do
    nothing), and set back after it."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        implicit = driver.isolation_level
        try:
            driver.isolation_level = None  # Transactions as this code begins them.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            with connection.begin():
                lock_for_writing(connection)  # BEGIN IMMEDIATE, or one line if it is busy.
                dangling = _dangling(connection)
                yield connection
                _check_no_more_dangling(connection, dangling)
        finally:
            try:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
                driver.isolation_level = implicit
            except BaseException:
                connection.invalidate()  # Not back in the pool as it was: closed instead.
                raise


def _dangling(connection: Connection) -> Counter[tuple[str, str]]:
    """How many of SQLite's rows point at a row that does not exist, by table and the table
    it points at (a copied table's rows may get other rowids, and its keys other numbers)."""
    check = connection.exec_driver_sql("PRAGMA foreign_key_check")
    return Counter((table, parent) for table, _, parent, _ in check)


def _check_no_more_dangling(connection: Connection, before: Counter[tuple[str, str]]) -> None:
    """NewsletterError if a migration left more rows pointing at nothing than there were (one
    made with the foreign keys off before it is not its doing: it stays as it was)."""
    for (table, parent), count in sorted((_dangling(connection) - before).items()):
        raise NewsletterError(
            f"the migration would leave {count} more row(s) of {table} pointing at a row of "
            f"{parent} that does not exist; it was rolled back, nothing changed",
            hint="report it, with the output of `newsletter db status`",
        )


def require_current(engine: Engine) -> None:
    """NewsletterError unless the database schema is the one the code expects."""
    current, head = known_revision(engine), HEAD
    if current == head:
        return
    where = shown_url(engine.url)
    if current is None:
        raise NewsletterError(
            f"the database {where} has no tables yet", hint="run `newsletter db upgrade`"
        )
    raise NewsletterError(
        f"the database {where} is at schema {current}, this version needs {head}",
        hint="back it up, then run `newsletter db upgrade`",
    )
