"""What commands share: error reporting, the project for the current invocation, the console."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console

from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from newsletter.config import Project

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a NewsletterError as `error: where: what` plus its fix, and exit with status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except NewsletterError as error:
            where = f"{error.location}: " if error.location else ""
            for line in error.message.split("\n"):
                typer.echo(f"error: {where}{line}", err=True)
            if error.hint:
                typer.echo(f"  fix: {error.hint}", err=True)
            raise typer.Exit(1) from error

    return run


def project_of(ctx: typer.Context) -> Project:
    """The project configuration selected by --config / NEWSLETTER_CONFIG (loaded once per run).

    Garbage collection, held off by main() while the command started, resumes here.
    """
    from newsletter.config import Project, load_project

    if not gc.isenabled():
        # What start-up made lives as long as the process: out of every later pass, unread.
        gc.freeze()
        gc.enable()

    root = ctx.find_root()
    cached = root.meta.get("newsletter.project")
    if cached is None:
        path = root.obj if isinstance(root.obj, Path) else None
        cached = load_project(path)
        root.meta["newsletter.project"] = cached
    assert isinstance(cached, Project)
    return cached


def warn_placeholders(project: Project) -> None:
    """Say on stderr which required settings have placeholder values (a preview can use them)."""
    warning = project.settings_warning()
    if warning:
        typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"  fix: {project.settings_hint()}", err=True)


def database(ctx: typer.Context, current: bool = True) -> Engine:
    """The project's database engine; unless `current` is False, refuse an outdated schema."""
    from newsletter.db import create_db_engine, database_url
    from newsletter.db_schema import require_current

    engine = create_db_engine(database_url(project_of(ctx)))
    ctx.call_on_close(engine.dispose)  # Close pooled connections when the command ends.
    if current:
        require_current(engine)
    return engine


def console() -> Console:
    """Console for user-facing output; 160 columns wide when not a terminal (logs, CI)."""
    # Lines are never wrapped (a finding stays one line for grep); tables use the width.
    terminal = Console(highlight=False, soft_wrap=True)
    return terminal if terminal.is_terminal else Console(highlight=False, soft_wrap=True, width=160)
