"""`newsletter sequence`: the welcome and onboarding sequences, who is where, who is put in."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from newsletter.cli.context import console, database, project_of, reports_errors

if TYPE_CHECKING:
    from newsletter.config import Project
    from newsletter.sequences.files import Sequence


def register(app: typer.Typer) -> None:
    """Add the sequence commands to `app`."""
    group = typer.Typer(
        help="Welcome and onboarding sequences (sequences/NAME/01-step.md): who is where.",
        no_args_is_help=True,
    )
    group.command("status")(reports_errors(status))
    group.command("enter")(reports_errors(enter))
    app.add_typer(group, name="sequence")


def status(
    ctx: typer.Context,
    name: str | None = typer.Argument(
        None, help="One sequence (a folder under sequences/); default: all.", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Show each sequence's steps (after, segment, draft) with their deliveries by state, and
    where its members are: how many were sent no step yet, how many stand at each step, how
    many left (unsubscribed, bounced, complained).

    Example: newsletter sequence status welcome
    """
    from newsletter.deliver.models import UNFINISHED, DeliveryState
    from newsletter.sequences.status import sequence_status

    project = project_of(ctx)
    engine = database(ctx)
    found = [sequence_status(engine, sequence) for sequence in _sequences(project, name)]
    if as_json:
        typer.echo(json.dumps({"sequences": [asdict(item) for item in found]}, indent=2))
        return
    out = console()
    if not found:
        out.print(f"no sequences in {project.sequences_path}", markup=False)
    for item in found:
        out.print(
            f"[bold]{item.name}[/]: {item.members:,} in it, {item.waiting:,} sent no step yet, "
            f"{item.left:,} left"
        )
        table = Table("step", "after", "to", "members here", "queued", "sent", "failed")
        for step in item.steps:
            table.add_row(
                step.key + (" (draft)" if step.draft else ""),
                step.after,
                step.to or "everyone",
                f"{step.reached:,}",
                f"{sum(step.states.get(state, 0) for state in UNFINISHED):,}",
                f"{step.states.get(DeliveryState.SENT, 0):,}",
                f"{step.states.get(DeliveryState.FAILED, 0):,}",
            )
        out.print(table)


def enter(
    ctx: typer.Context,
    name: str = typer.Argument(
        ..., help="The sequence (a folder under sequences/).", show_default=False
    ),
    to: str | None = typer.Option(
        None,
        "--to",
        help="Only the subscribers of this segment (docs/audience.md).",
        show_default=False,
    ),
) -> None:
    """Put active subscribers in a sequence now (subscribers enter by themselves when they
    confirm): those of the segment --to, or everyone. Those in it, or who left it, stay as
    they are; `newsletter run` sends each their due steps.

    Example: newsletter sequence enter welcome --to 'subscribed after 2026-11-01'
    """  # fmt: skip
    from newsletter.audience.targets import target_of
    from newsletter.db import utcnow
    from newsletter.sequences.files import load_sequence
    from newsletter.sequences.status import enter_segment

    project = project_of(ctx)
    sequence = load_sequence(project, name)
    target = target_of(to, project.config) if to is not None else None
    entered = enter_segment(database(ctx), sequence, target, utcnow())
    console().print(f"{entered:,} subscribers entered {name}", markup=False)


def _sequences(project: Project, name: str | None) -> list[Sequence]:
    from newsletter.sequences.files import load_sequence, load_sequences

    return [load_sequence(project, name)] if name else load_sequences(project)
