"""The public web app: subscribe (double opt-in), confirm, unsubscribe (RFC 8058), preferences.

    /subscribe, /confirm/TOKEN       signing up, for any visitor (newsletter/web/signup.py)
    /unsubscribe/TOKEN, /preferences/TOKEN
                                     the links in every email (newsletter/web/reader.py)
    GET  /healthz                    the database answers and its schema is current (else 503,
                                     {"status": "unhealthy"}; the log says why) (web/health.py)
    /api/v1/...                      the JSON API for the operator's programs, with an API key
                                     (newsletter/web/api/, docs/api.md)
    /admin/...                       the dashboard for the operator's people, logged in with a
                                     role (newsletter/web/admin/, docs/admin.md)
    POST /webhooks/PROVIDER          bounces and complaints from SES (SNS), Postmark, Mailgun,
                                     SendGrid, signature checked first (newsletter/web/webhooks.py)
    GET|HEAD /l/LINK[/DELIVERY]      the tracking links of sent issues: counted, then 302 to the
                                     link (newsletter/web/clicks.py)
    GET|HEAD /o/EDITION[/DELIVERY]   the open pixel of sent issues: counted, a 1x1 GIF
    GET  /...                        the archive (newsletter/web/archive.py), kept current

What the pages share (templates per locale, the browser's language, the error pages) is in
newsletter/web/site.py; how every router answers a failure, in newsletter/web/errors.py. The
public pages set no cookies (only the dashboard does, on /admin), no JavaScript needed. Public
forms answer with a page, never a redirect; the only redirects are the archive's trailing
slashes and the dashboard's, whose Location is always a path on this site, and the tracking
links', which go to the links of the issues we sent (newsletter/web/redirects.py).
Pages are in the subscriber's language (token pages) or the browser's (the subscribe form).

Clicks are kept in memory and written in batches by a thread that the app's lifespan starts
and stops (the last batch written when `serve` or `run` stops on SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import Engine
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.db_schema import require_current
from newsletter.deliver.transports import Transport, open_transport
from newsletter.render.notices import Notices
from newsletter.subscribers.tokens import Tokens
from newsletter.web import admin, api, clicks, health, reader, signup, webhooks
from newsletter.web.api.limits import BodyLimit
from newsletter.web.api.problems import install_api_handlers
from newsletter.web.archive import ArchiveFiles, ArchiveKeeper
from newsletter.web.errors import install_error_handlers
from newsletter.web.redirects import LocalRedirects
from newsletter.web.security import Csrf, RateLimiter
from newsletter.web.site import Site

SUBSCRIBE_LIMIT = (5, 600.0)
"""Subscribe attempts per client address and window (seconds)."""


def create_app(
    project: Project,
    *,
    engine: Engine | None = None,
    transport: Callable[[], Transport] | None = None,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The web app for `project`; the database must be at the current schema."""
    secret = project.secret("NEWSLETTER_SECRET_KEY") or ""
    engine = engine or create_db_engine(database_url(project))
    require_current(engine)
    site = Site(
        project=project,
        engine=engine,
        tokens=Tokens(secret),
        csrf=Csrf(secret),
        limiter=RateLimiter(SUBSCRIBE_LIMIT[0], SUBSCRIBE_LIMIT[1], monotonic),
        transport=transport
        or (lambda: open_transport(project.config.transport_url, project.secrets, project.root)),
        notices=Notices(project),
        clock=clock,
    )
    config = project.config
    app = FastAPI(
        title=config.name,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=clicks.lifespan,
    )
    app.state.site = site
    app.state.tracking = clicks.make_tracking(
        engine,
        secret,
        individual=config.tracking == "individual",
        click_limit=config.click_limit,
        clock=clock,
        monotonic=monotonic,
    )
    # Every Location a path on this site, but the tracking links' (their paths alone).
    app.add_middleware(LocalRedirects, external=clicks.TRACKING_PATHS)
    if project.config.trusted_proxies:
        # Only a configured proxy may say who the client is: anyone else could rotate
        # X-Forwarded-For to get round the per-client limit or forge consent records. `serve`
        # and `run` start uvicorn without its own proxy_headers, which would trust 127.0.0.1
        # (or FORWARDED_ALLOW_IPS) whatever the configuration says.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=project.config.trusted_proxies)
    install_error_handlers(app)
    install_api_handlers(app)
    admin.install_admin_handlers(app)
    app.add_middleware(BodyLimit, prefix=api.PREFIX, limit=api.MAX_BODY)
    app.state.monotonic = monotonic
    # The tracking links first: they get the most requests by far, and no other route's path
    # begins with /l/ or /o/.
    app.router.routes.extend(clicks.ROUTES)
    # The routers, by audience: people who sign up, readers following the links of an email,
    # the operator's monitoring, the mail providers' webhooks.
    app.include_router(signup.router)
    app.include_router(reader.router)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    # The operator's programs: every route needs an API key but the document describing them.
    app.include_router(api.router)
    # The operator's people: every route needs a logged-in user but the login form.
    app.include_router(admin.router)
    # Everything else is the archive: after the routes above, so they take precedence.
    app.state.archive = ArchiveKeeper(project, engine, monotonic)
    app.mount("/", ArchiveFiles(app.state.archive), name="archive")
    return app
