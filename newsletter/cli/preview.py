"""`newsletter preview`: serve issues to the editor with live reload."""

from __future__ import annotations

import typer

from newsletter.cli.context import console, project_of, reports_errors, warn_placeholders


def register(app: typer.Typer) -> None:
    """Add the preview command to `app`."""
    app.command("preview")(reports_errors(preview))


def preview(
    ctx: typer.Context,
    issue: str | None = typer.Argument(
        None, help="Issue to open (folder, file or slug); default: the list.", show_default=False
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Serve issues to the editor: email at desktop and phone widths, text part, web version.

    Pages reload by themselves whenever an issue, template or catalog changes; a locale
    switcher moves between translations.

    Example: newsletter preview 2024-03-10-ai-revolution-accelerates --port 8000
    """
    import logging

    import uvicorn

    from newsletter.content.loader import IssueLoader
    from newsletter.content.source import find_issue_path
    from newsletter.service.logs import configure_logging
    from newsletter.web.preview import create_app

    configure_logging(logging.WARNING)  # Uvicorn logs its own lines; ours, one line each.
    project = project_of(ctx)
    warn_placeholders(project)
    origin = f"http://{host}:{port}"
    start = f"{origin}/"
    if issue:
        loaded = IssueLoader(project.config, project.root).load(
            find_issue_path(project.issues_path, issue, project.config.locales)
        )
        start = f"{origin}/{loaded.slug}/{loaded.default_locale}/"
    console().print(f"previewing at {start} (Ctrl+C to stop)", markup=False)
    app = create_app(project, origin)
    # No forwarded headers: nothing but the socket says who a client is (as `serve` and `run`).
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
