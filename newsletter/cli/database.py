"""`newsletter db`: create and migrate the database schema."""

from __future__ import annotations

import typer

from newsletter.cli.context import console, database, reports_errors
from newsletter.database_errors import shown_url


def register(app: typer.Typer) -> None:
    """Add the database commands to `app`."""
    group = typer.Typer(help="Create and migrate the database.", no_args_is_help=True)
    group.command("upgrade")(reports_errors(upgrade))
    group.command("status")(reports_errors(status))
    app.add_typer(group, name="db")


def upgrade(ctx: typer.Context) -> None:
    """Create the tables, or migrate them to this version's schema; existing rows are kept.

    Example: newsletter db upgrade
    """
    from newsletter.db import upgrade as migrate

    before, after = migrate(database(ctx, current=False))
    message = (
        f"database already at schema {after}"
        if before == after
        else f"database upgraded from {before or 'empty'} to {after}"
    )
    console().print(message, markup=False)


def status(ctx: typer.Context) -> None:
    """Show the database URL and schema version, and whether an upgrade is needed.

    Example: NEWSLETTER_DATABASE_URL=sqlite:///other.db newsletter db status
    """
    from newsletter.db import head_revision, known_revision

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
