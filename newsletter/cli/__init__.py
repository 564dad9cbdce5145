"""The `newsletter` command line: thin commands over the library, errors as one clean line."""

from __future__ import annotations

import gc
import inspect
from pathlib import Path

import typer

app = typer.Typer(
    name="newsletter",
    help="Write newsletter issues as Markdown story files; check, build, send and archive them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def options(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="NEWSLETTER_CONFIG",
        help="Configuration file (default: config/newsletter.toml, else built-in defaults).",
        show_default=False,
    ),
) -> None:
    """Write newsletter issues as Markdown story files; check, build, send and archive them."""
    ctx.obj = config


def _register() -> None:
    from newsletter.cli import (
        access,
        archive,
        bounces,
        content,
        database,
        delivery,
        inbound,
        preview,
        report,
        schedule,
        sequences,
        server,
        settings,
        subscribers,
        users,
    )

    content.register(app)
    archive.register(app)
    preview.register(app)
    subscribers.register(app)
    delivery.register(app)
    inbound.register(app)
    bounces.register(app)
    report.register(app)
    schedule.register(app)
    sequences.register(app)
    database.register(app)
    server.register(app)
    settings.register(app)
    access.register(app)
    users.register(app)


def _terminal_help(typer_app: typer.Typer) -> None:
    """Let the terminal wrap every command's help: each paragraph of its docstring becomes one
    line (examples keep their lines).

    Typer's rich help keeps the line breaks of every paragraph after the first, so docstrings
    wrapped at 100 columns came out at 80 as lines with a word or two stranded after each.
    """
    for info in typer_app.registered_commands:
        info.help = help_text(info.help or inspect.getdoc(info.callback) or "")
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _terminal_help(group.typer_instance)


def help_text(docstring: str) -> str:
    """A docstring's paragraphs, each on one line but those that start with `Example`."""
    paragraphs = inspect.cleandoc(docstring).split("\n\n")
    return "\n\n".join(
        paragraph if paragraph.startswith("Example") else " ".join(paragraph.split("\n"))
        for paragraph in paragraphs
    )


_register()
_terminal_help(app)


def main() -> None:
    """Console entry point."""
    # Start-up makes a few hundred thousand objects that live as long as the process (modules,
    # classes, SQLAlchemy's and pydantic's structures): the collector's passes over them were
    # 90 ms of `newsletter status`, a tenth of it. It resumes once the command has made its
    # imports and loads its project (context.project_of), which every command does.
    gc.disable()
    app()
