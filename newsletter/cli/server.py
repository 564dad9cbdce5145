"""`newsletter serve`: the public web app (subscribe, confirm, unsubscribe, preferences)."""

from __future__ import annotations

import typer

from newsletter.cli.context import console, database, project_of, reports_errors


def register(app: typer.Typer) -> None:
    """Add the serve command to `app`."""
    app.command("serve")(reports_errors(serve))


def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on (put a TLS proxy in front for the public).",
    ),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
) -> None:
    """Serve the subscribe form, confirmation, one-click unsubscribe and preferences pages.

    Needs NEWSLETTER_SECRET_KEY (it signs the links) and an upgraded database.

    Example: NEWSLETTER_SECRET_KEY=... newsletter serve --port 8080
    """
    import uvicorn

    from newsletter.web.app import create_app

    project = project_of(ctx)
    app = create_app(project, engine=database(ctx))
    console().print(
        f"serving {project.config.name} at http://{host}:{port}/subscribe (Ctrl+C to stop)",
        markup=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)
