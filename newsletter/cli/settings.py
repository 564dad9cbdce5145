"""`newsletter config`: show the effective configuration and where it came from."""

from __future__ import annotations

import json

import typer

from newsletter.cli.context import console, project_of, reports_errors
from newsletter.errors import display_path


def register(app: typer.Typer) -> None:
    """Add the configuration command to `app`."""
    app.command("config")(reports_errors(show_config))


def show_config(ctx: typer.Context) -> None:
    """Show the effective configuration and which secrets are set (never their values).

    File values are shown with environment overrides applied.

    Example: NEWSLETTER_TIMEZONE=Asia/Tokyo newsletter config
    """
    from newsletter.config import SECRET_VARIABLES
    from newsletter.redaction import shown_url

    project = project_of(ctx)
    out = console()
    source = (
        display_path(project.source)
        if project.source
        else "built-in defaults (no config/newsletter.toml)"
    )
    out.print(f"# configuration: {source}", markup=False)
    out.print(f"# project folder: {display_path(project.root)}", markup=False)
    if project.unset_required:
        out.print(
            f"# not set, placeholders below: {', '.join(project.unset_required)} "
            "(a real send, schedules, serve and run refuse to start without them)",
            markup=False,
        )
    for key, value in project.config.model_dump().items():
        if isinstance(value, str) and key.endswith("_url"):
            value = shown_url(value)  # A password in database_url is a secret too.
        out.print(f"{key} = {json.dumps(value, ensure_ascii=False)}", markup=False)
    for variable in SECRET_VARIABLES:
        state = "set" if project.secret(variable) else "not set"
        out.print(f"# {variable}: {state}", markup=False)
