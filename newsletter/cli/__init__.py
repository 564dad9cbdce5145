"""The `newsletter` command line: thin commands over the library, errors as one clean line."""

from __future__ import annotations

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
        archive,
        content,
        database,
        delivery,
        preview,
        schedule,
        server,
        settings,
        subscribers,
    )

    content.register(app)
    archive.register(app)
    preview.register(app)
    subscribers.register(app)
    delivery.register(app)
    schedule.register(app)
    database.register(app)
    server.register(app)
    settings.register(app)


_register()


def main() -> None:
    """Console entry point."""
    app()
