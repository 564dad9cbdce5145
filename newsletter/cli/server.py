"""`newsletter serve` (the public web app) and `newsletter run` (web app, delivery and schedule)."""

from __future__ import annotations

import typer

from newsletter.cli.context import console, database, project_of, reports_errors
from newsletter.errors import NewsletterError


def register(app: typer.Typer) -> None:
    """Add the serve command to `app`."""
    app.command("serve")(reports_errors(serve))
    app.command("run")(reports_errors(run))


HOST = typer.Option(
    "127.0.0.1",
    "--host",
    help="Address the web app listens on (put a TLS proxy in front for the public).",
)
PORT = typer.Option(8080, "--port", help="Port the web app listens on.")


def serve(ctx: typer.Context, host: str = HOST, port: int = PORT) -> None:
    """Serve the archive, the subscribe form, confirmation, one-click unsubscribe, preferences
    and the tracking links of sent issues (/l/, /o/).

    The archive is the one `newsletter archive` writes, built into archive_dir and kept
    current: a new send or an edited issue shows within seconds. Needs NEWSLETTER_SECRET_KEY
    (it signs the links) and an upgraded database.

    Example: NEWSLETTER_SECRET_KEY=... newsletter serve --port 8080
    """
    import logging

    import uvicorn

    from newsletter.service.logs import configure_logging
    from newsletter.web.app import create_app

    configure_logging(logging.WARNING)  # Uvicorn logs its own lines; ours, one line each.
    project = project_of(ctx)
    project.require_settings("newsletter serve")
    app = create_app(project, engine=database(ctx))
    app.state.archive.refresh(force=True)
    console().print(
        f"serving {project.config.name} at http://{host}:{port}/ (the archive) and "
        f"http://{host}:{port}/subscribe (Ctrl+C to stop)",
        markup=False,
    )
    # proxy_headers off: the app trusts X-Forwarded-For from `trusted_proxies` only.
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)


def run(
    ctx: typer.Context,
    host: str = HOST,
    port: int = PORT,
    web: bool = typer.Option(True, "--web/--no-web", help="Serve the web app in this process."),
    log_level: str = typer.Option(
        "info", "--log-level", help="debug, info, warning or error.", show_default=True
    ),
) -> None:
    """Run the service: scheduled sends, delivery workers and the web app (with the archive, as
    `serve` serves it), until stopped.

    Schedules (`newsletter schedule`) fire only while a `run` is running. Several `run`
    processes may share one database: one leads the schedule, all of them deliver and serve,
    and another takes the lead within `leader_lease` seconds when the leader dies. SIGTERM or
    Ctrl-C stops it cleanly: the messages in flight finish, the rest stays queued. With
    `inbound_listen` or `inbound_urls` configured, it also receives and processes bounces,
    complaints and mailto unsubscribes (docs/bounces.md).

    Example: NEWSLETTER_SECRET_KEY=... newsletter run --port 8080
    """
    import logging

    from newsletter.service.logs import configure_logging
    from newsletter.service.runner import Options, run_service

    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise NewsletterError(
            f"--log-level {log_level!r} is not a level", hint="use debug, info, warning or error"
        )
    configure_logging(level)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    project = project_of(ctx)
    project.require_settings("newsletter run")
    database(ctx)  # Refuses an outdated schema before anything starts.
    run_service(project, Options(host=host, port=port, web=web, log_level=level))
