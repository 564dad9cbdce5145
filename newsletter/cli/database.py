"""`newsletter db`: create and migrate the database schema, copy the data to another
database."""

from __future__ import annotations

import typer

from newsletter.cli.context import console, database, reports_errors
from newsletter.database_errors import shown_url

NO_INDEX = (
    "searching part of an address or a name reads every subscriber "
    "(docs/subscribers.md, `The search index`, says how to add it)"
)


def register(app: typer.Typer) -> None:
    """Add the database commands to `app`."""
    group = typer.Typer(
        help="Create and migrate the database; copy its data to another.", no_args_is_help=True
    )
    group.command("upgrade")(reports_errors(upgrade))
    group.command("status")(reports_errors(status))
    group.command("copy")(reports_errors(copy))
    app.add_typer(group, name="db")


def upgrade(ctx: typer.Context) -> None:
    """Create the tables, or migrate them to this version's schema; existing rows are kept.
    At this version's schema, make the search index if an earlier upgrade could not.

    Example: newsletter db upgrade
    """
    from newsletter.db_schema import upgrade as migrate
    from newsletter.subscribers.search_index import has_index, make_index

    engine = database(ctx, current=False)
    before, after = migrate(engine)
    message = (
        f"database already at schema {after}"
        if before == after
        else f"database upgraded from {before or 'empty'} to {after}"
    )
    console().print(message, markup=False)
    if before != after:
        return  # Migration 0014 made the search index, or warned why it could not.
    with engine.begin() as connection:  # Left out by an earlier upgrade: perhaps possible now.
        missing = not has_index(connection)
        problem = make_index(connection) if missing else None
    if problem is not None:
        console().print(f"no search index: {problem}; {NO_INDEX}", markup=False)
    elif missing:
        console().print("search index made", markup=False)


def status(ctx: typer.Context) -> None:
    """Show the database URL and schema version, whether an upgrade is needed, and whether
    searches have their index.

    Example: NEWSLETTER_DATABASE_URL=sqlite:///other.db newsletter db status
    """
    from newsletter.db_schema import head_revision, known_revision
    from newsletter.subscribers.search_index import has_index

    engine = database(ctx, current=False)
    current, head = known_revision(engine), head_revision()
    out = console()
    out.print(f"database: {shown_url(engine.url)}", markup=False)
    out.print(
        f"schema:   {current or 'none (empty database)'}; this version needs {head}", markup=False
    )
    if current != head:
        out.print("run `newsletter db upgrade`", markup=False)
        raise typer.Exit(1)
    with engine.connect() as connection:
        indexed = has_index(connection)
    out.print(
        f"search:   {'trigram index' if indexed else 'no trigram index; ' + NO_INDEX}", markup=False
    )


def copy(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., metavar="URL", help="The new, empty database, e.g. postgresql+psycopg://..."
    ),
) -> None:
    """Copy every row of this database to a new, empty one (migrated first), in one
    transaction: to move from SQLite to PostgreSQL. Stop `newsletter run` first; then point
    database_url (or NEWSLETTER_DATABASE_URL) at the new database.

    Example: newsletter db copy postgresql+psycopg://newsletter@db.example.org/newsletter
    """
    from newsletter.database_copy import copy_database
    from newsletter.db import create_db_engine

    source = database(ctx, current=False)
    destination = create_db_engine(target)
    ctx.call_on_close(destination.dispose)
    copied = copy_database(source, destination)
    out = console()
    for table, rows in copied.rows.items():
        if rows:
            out.print(f"{table:20} {rows:>10,}", markup=False)
    out.print(
        f"copied {copied.total:,} rows of {len(copied.rows)} tables to {shown_url(destination.url)}; "
        "set database_url (or NEWSLETTER_DATABASE_URL) to it",
        markup=False,
    )
