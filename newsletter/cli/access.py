"""`newsletter api-key`: keys for programs that use the API (docs/api.md)."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli.context import console, database, reports_errors


def register(app: typer.Typer) -> None:
    """Add the api-key commands to `app`."""
    group = typer.Typer(
        help="API keys: create one (shown once), list them, revoke one.", no_args_is_help=True
    )
    group.command("create")(reports_errors(create))
    group.command("list")(reports_errors(list_keys))
    group.command("revoke")(reports_errors(revoke))
    app.add_typer(group, name="api-key")


def create(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help="What uses the key, such as website-signup.", show_default=False
    ),
    scopes: list[str] = typer.Option(
        [],
        "--scope",
        help="subscribers:read, subscribers:write, sends:read, sends:write or schedules:write; repeat for several.",
    ),
) -> None:
    """Create an API key with its scopes and print it once: only its digest is stored, so
    copy it now (a lost key is revoked and replaced).

    Example: newsletter api-key create website-signup --scope subscribers:write
    """  # fmt: skip
    from newsletter.access.keys import create_key, parse_scopes
    from newsletter.db import utcnow

    record, key = create_key(database(ctx), name, parse_scopes(scopes), utcnow())
    out = console()
    out.print(f"API key {record.prefix} ({record.name}), scopes: {record.scopes}", markup=False)
    out.print(key, markup=False)
    out.print(
        "Keep it secret; it is not shown again. Programs send it as `Authorization: Bearer KEY`.",
        markup=False,
    )


def list_keys(ctx: typer.Context) -> None:
    """List the API keys: prefix, name, scopes, when made, last used, revoked.

    Example: newsletter api-key list
    """
    from newsletter.access.keys import list_keys as keys

    table = Table("prefix", "name", "scopes", "created", "last used", "revoked")
    for record in keys(database(ctx)):
        table.add_row(
            record.prefix,
            record.name,
            record.scopes,
            f"{record.created_at:%Y-%m-%d %H:%M}",
            f"{record.last_used_at:%Y-%m-%d %H:%M}" if record.last_used_at else "-",
            f"{record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "-",
        )
    console().print(table)


def revoke(
    ctx: typer.Context,
    prefix: str = typer.Argument(
        ..., help="The key's prefix, as `api-key list` shows it.", show_default=False
    ),
) -> None:
    """Revoke an API key: every request with it is refused (401) from now on.

    Example: newsletter api-key revoke nl_1a2b3c4d
    """  # fmt: skip
    from newsletter.access.keys import revoke_key
    from newsletter.db import utcnow

    record = revoke_key(database(ctx), prefix, utcnow())
    console().print(f"revoked {record.prefix} ({record.name})", markup=False)
