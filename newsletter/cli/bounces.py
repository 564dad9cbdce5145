"""`newsletter bounces`: what came back after the sends (bounces, complaints, unsubscribes by
mail), newest first."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer

from newsletter.cli.context import console, database, project_of, reports_errors
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.config import Project
    from newsletter.inbound.report import EventRow

KINDS = (
    "hard", "soft", "policy", "complaint", "autoreply", "delay", "unsubscribe", "delivered",
    "unknown",
)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add `bounces` to `app`."""
    app.command("bounces")(reports_errors(bounces))


def bounces(
    ctx: typer.Context,
    issue: str | None = typer.Option(
        None, "--issue", help="Only the events of this issue's send.", show_default=False
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only events since this date or time (2026-11-30 or 2026-11-30 08:00, in the configured time zone).",
        show_default=False,
    ),
    kinds: list[str] = typer.Option(
        [], "--kind", help=f"Only events of this kind (repeatable): {', '.join(KINDS)}."
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="List at most this many events."),
    as_json: bool = typer.Option(False, "--json", help="The events as a JSON list."),
) -> None:
    """List the bounces, complaints and other events that came back, newest first: the kind,
    the issue and subscriber each was tied to, the remote server's words, what was done.

    Example: newsletter bounces --issue 2024-03-10-ai-revolution-accelerates --kind hard
    """
    from newsletter.deliver.report import find_mailing
    from newsletter.inbound.report import events

    project = project_of(ctx)
    for kind in kinds:
        if kind not in KINDS:
            raise NewsletterError(f"--kind {kind!r}: no such kind", hint="use " + ", ".join(KINDS))
    start = _since(project, since) if since is not None else None
    engine = database(ctx)
    mailing_id = None
    if issue is not None:
        mailing = find_mailing(engine, issue)
        if mailing is None:
            raise NewsletterError(
                f"--issue {issue!r}: no send of that issue in the database",
                hint="give the issue's slug as `newsletter status` shows it",
            )
        mailing_id = mailing.id
    found = events(engine, mailing_id=mailing_id, since=start, kinds=tuple(kinds), limit=limit)
    if as_json:
        typer.echo(json.dumps([_as_dict(row) for row in found], ensure_ascii=False, indent=2))
        return
    out = console()
    if not found:
        out.print("no events", markup=False)
        return
    zone = ZoneInfo(project.config.timezone)
    for row in found:
        who = row.email or ("(forgotten)" if row.matched_by != "none" else "(unmatched)")
        # An unmatched event's reason says why it changed nobody: show it with the words.
        what = " | ".join(part for part in (row.diagnostic, row.reason) if part)
        out.print(
            f"{row.at.astimezone(zone):%Y-%m-%d %H:%M} {row.kind:11} {row.status or '-':7} "
            f"{row.issue or '-'}  {who}  {row.action or '-'}  {what}",
            markup=False,
        )


def _since(project: Project, given: str) -> datetime:
    try:
        moment = datetime.fromisoformat(given.strip())
    except ValueError:
        raise NewsletterError(
            f"--since {given!r} is not a date or a date and time",
            hint='write it as --since 2026-11-30 or --since "2026-11-30 08:00"',
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(project.config.timezone))
    return moment


def _as_dict(row: EventRow) -> dict[str, str]:
    from dataclasses import asdict

    data = asdict(row)
    return {**data, "at": row.at.isoformat()}
