"""What went wrong with the database, in one line: the URL (password hidden), the cause, the fix.

A damaged or read-only SQLite file, a folder where the file should be, a PostgreSQL server
nobody answers on, an unknown scheme, a driver that is not installed: each becomes a
DatabaseError, raised where the engine is made (newsletter/db.py) or from SQLAlchemy's
`handle_error` event, so every command that opens the database reports it the same way.
Errors the code handles itself (a busy database, a UNIQUE constraint) pass through unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import redaction
from newsletter.errors import DatabaseError, DatabaseGone

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, ExceptionContext

BACKENDS = ("sqlite", "postgresql")
URL_HINT = "use sqlite:///newsletter.db or postgresql+psycopg://user@host/name in database_url"
POSTGRES_DRIVER_HINT = (
    "install the PostgreSQL driver with `pip install 'newsletter[postgres]'` and write "
    "postgresql+psycopg://user@host/name"
)


def shown_url(url: URL | str) -> str:
    """The URL with its passwords (user part, query) replaced by *** (newsletter/redaction.py)."""
    if not isinstance(url, str):
        url = url.render_as_string(hide_password=True)
    return redaction.shown_url(url)


def unusable_url(url: str, error: Exception) -> DatabaseError:
    """The error for a URL SQLAlchemy cannot make an engine for: scheme, driver or syntax."""
    from sqlalchemy.exc import NoSuchModuleError

    shown = shown_url(url)
    scheme = url.partition("://")[0]
    backend = scheme.partition("+")[0]
    if backend not in BACKENDS or isinstance(error, NoSuchModuleError):
        return DatabaseError(
            f"database {shown}: {scheme!r} is not a database newsletter works with "
            "(SQLite and PostgreSQL)",
            hint=URL_HINT,
        )
    if isinstance(error, ImportError):
        package = error.name or str(error)
        return DatabaseError(
            f"database {shown}: its driver, the Python package {package}, is not installed",
            hint=POSTGRES_DRIVER_HINT if backend == "postgresql" else f"pip install {package}",
        )
    first = str(error).strip().split("\n", 1)[0]
    if "invalid literal for int()" in first:
        first = "its port is not a number"
    return DatabaseError(f"database {shown}: not a valid database URL: {first}", hint=URL_HINT)


def explain(url: URL, context: ExceptionContext) -> None:
    """Raise a DatabaseError for a failure of the database itself (`handle_error` event);
    not for the check of a pooled connection (pool_pre_ping), which replaces a broken one."""
    if context.is_pre_ping:
        return
    error = context.original_exception
    message = " ".join(str(error).split()) or type(error).__name__
    missing = re.search(r'no such table: (\w+)|relation "(\w+)" does not exist', message)
    if missing:
        raise missing_table(url, missing.group(1) or missing.group(2)) from error
    if context.dialect.name == "sqlite":
        problem = _sqlite_problem(url, message)
    elif context.connection is None or context.is_disconnect:
        problem = _server_problem(url, message, connected=context.connection is not None)
    else:
        problem = None
    if problem is not None:
        raise problem from error


def _sqlite_problem(url: URL, message: str) -> DatabaseError | None:
    shown = shown_url(url)
    path = Path(url.database or "")
    lowered = message.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return DatabaseError(
            f"database {shown}: {path.name} is not a SQLite database, or it is damaged ({message})",
            hint="restore it from a backup, or point database_url at the newsletter's database",
        )
    if "readonly" in lowered or "read-only" in lowered:
        return DatabaseError(
            f"database {shown}: it is read-only ({message})",
            hint=f"make {path.name} and its folder writable for this user "
            f"(SQLite also writes {path.name}-wal and {path.name}-shm beside it)",
        )
    if "unable to open" in lowered or "disk i/o error" in lowered:
        if path.is_dir():
            return DatabaseError(
                f"database {shown}: {path} is a folder, not a database file",
                hint="name a file in database_url, such as sqlite:///newsletter.db",
            )
        if not path.parent.is_dir():
            return DatabaseError(
                f"database {shown}: the folder {path.parent} does not exist",
                hint="create the folder, or fix the path in database_url",
            )
        return DatabaseError(
            f"database {shown}: cannot open {path.name} ({message})",
            hint=f"make {path.name} and its folder readable and writable for this user",
        )
    return None


def _server_problem(url: URL, message: str, connected: bool) -> DatabaseGone:
    shown = shown_url(url)
    if len(message) > 300:
        message = message[:300] + "…"
    return DatabaseGone(
        f"database {shown}: {'lost the connection' if connected else 'cannot connect'}: {message}",
        hint="start the database server, or fix the host, port, user, password or database "
        "name in database_url (or NEWSLETTER_DATABASE_URL)",
    )


def missing_table(url: URL, table: str) -> DatabaseError:
    """The error for a database whose schema lacks one of newsletter's tables."""
    return DatabaseError(
        f"database {shown_url(url)}: it has no table {table} (dropped, or not the newsletter's "
        "database)",
        hint="restore it from a backup, or point database_url at the newsletter's database "
        "(a new, empty one is made with `newsletter db upgrade`)",
    )


def newer_schema(url: URL, current: str, head: str) -> DatabaseError:
    """The error for a database at a schema this code has no migration of: a newer version of
    newsletter migrated it, or another application wrote it."""
    if re.fullmatch(r"\d{4}", current) and current > head:
        return DatabaseError(
            f"database {shown_url(url)}: its schema {current} is newer than this version of "
            f"newsletter knows (up to {head}); a newer newsletter upgraded it",
            hint="run the newer version of newsletter with it (pip install --upgrade newsletter); "
            "an older version must not write to it",
        )
    return DatabaseError(
        f"database {shown_url(url)}: its schema {current!r} is not one newsletter knows (up to "
        f"{head}): another application's database, or a newer newsletter's",
        hint="point database_url at the newsletter's own database, or use the newer version of "
        "newsletter that wrote it (pip install --upgrade newsletter)",
    )
