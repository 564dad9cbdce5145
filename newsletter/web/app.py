"""The public web app: subscribe (double opt-in), confirm, unsubscribe (RFC 8058), preferences.

    GET  /subscribe                  the form (in the browser's language)
    POST /subscribe                  always the same answer, known address or not
    GET  /confirm/TOKEN              a page with a button; POST confirms (scanners only GET)
    GET  /unsubscribe/TOKEN          a page with a button
    POST /unsubscribe/TOKEN          unsubscribes: the form, and one-click from mail clients
    GET  /preferences/TOKEN          language, time zone, topics; POST saves
    GET  /healthz                    the database answers and its schema is current
    GET  /...                        the archive (newsletter/web/archive.py), kept current

No cookies, no JavaScript needed. Forms answer with a page, never a redirect; the only
redirects are the archive's trailing slashes, and every Location is a path on this site
(newsletter/web/redirects.py). Pages are in the subscriber's language (token pages) or the
browser's (the subscribe form).
"""

from __future__ import annotations

import functools
import logging
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, require_current, utcnow
from newsletter.deliver.message import send_notice
from newsletter.deliver.transports import Transport, open_transport
from newsletter.errors import NewsletterError
from newsletter.render.i18n import N_, Localizer, language, negotiate
from newsletter.render.merge import personalize
from newsletter.render.notices import Notices
from newsletter.render.templates import template_environment, theme_search_path
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber, Tag
from newsletter.subscribers.tokens import InvalidToken, Tokens, page_url
from newsletter.web.archive import ArchiveFiles, ArchiveKeeper
from newsletter.web.redirects import LocalRedirects
from newsletter.web.security import Csrf, RateLimiter, same_origin

log = logging.getLogger(__name__)
SUBSCRIBE_LIMIT = (5, 600.0)
"""Subscribe attempts per client address and window (seconds)."""
MAX_EMAIL, MAX_NAME = 320, 200


@dataclass
class Site:
    """Everything the routes share, built once per application."""

    project: Project
    engine: Engine
    tokens: Tokens
    csrf: Csrf
    limiter: RateLimiter
    transport: Callable[[], Transport]
    notices: Notices
    clock: Callable[[], datetime]
    _environments: dict[str, tuple[Localizer, Environment]] = field(default_factory=dict)

    @functools.cached_property
    def languages(self) -> list[dict[str, str]]:
        """The language choices of the forms, each named in its own language."""
        return [language(code) for code in self.project.config.locales]

    def environment(self, locale: str) -> tuple[Localizer, Environment]:
        """The page templates in `locale`, built once per locale for the life of the app."""
        if locale not in self._environments:
            localizer = Localizer(locale)
            search_path = theme_search_path(self.project.root, self.project.config.theme)
            self._environments[locale] = (localizer, template_environment(search_path, localizer))
        return self._environments[locale]

    def page(self, name: str, locale: str, status: int = 200, **context: Any) -> HTMLResponse:
        localizer, environment = self.environment(locale)
        config = self.project.config
        languages = self.languages
        page = environment.get_template(f"pages/{name}.html.j2").render(
            newsletter={
                "name": config.name,
                "base_url": config.base_url,
                "postal_address": config.postal_address,
            },
            locale=localizer.layout,
            languages=languages,
            **context,
        )
        return HTMLResponse(
            page,
            status_code=status,
            headers={
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY",
            },
        )

    def message(self, locale: str, heading: str, body: str, status: int = 200) -> HTMLResponse:
        localizer, _ = self.environment(locale)
        return self.page(
            "message",
            locale,
            status,
            heading=localizer.gettext(heading),
            text=localizer.gettext(body),
        )


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
    app = FastAPI(title=project.config.name, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(LocalRedirects)
    _routes(app, site)
    # Everything else is the archive: after the routes above, so they take precedence.
    app.state.archive = ArchiveKeeper(project, engine, monotonic)
    app.mount("/", ArchiveFiles(app.state.archive), name="archive")
    return app


def _routes(app: FastAPI, site: Site) -> None:
    config = site.project.config
    hosts = {config.base_url.split("://", 1)[1].split("/", 1)[0]}

    def session() -> Iterator[Session]:
        with Session(site.engine) as opened:
            yield opened

    def browser_locale(request: Request) -> str:
        wanted = request.query_params.get("lang", "")
        if wanted in config.locales:
            return wanted
        return (
            negotiate(request.headers.get("accept-language", ""), config.locales)
            or config.default_locale
        )

    def from_us(request: Request) -> bool:
        return same_origin(
            request.headers.get("origin"),
            request.headers.get("referer"),
            hosts | {request.url.netloc},
        )

    def invalid_link(locale: str) -> HTMLResponse:
        return site.message(
            locale,
            N_("This link is not valid"),
            N_(
                "It may have expired or been copied incompletely. Use the link in your most recent email."
            ),
            400,
        )

    @app.exception_handler(InvalidToken)
    async def invalid_token(request: Request, error: InvalidToken) -> HTMLResponse:
        # Tampered, expired, another purpose's or another subscriber's link: one answer for all.
        return invalid_link(browser_locale(request))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with site.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            require_current(site.engine)
        except Exception as error:  # The health check reports any failure; it never raises.
            return JSONResponse({"status": "error", "error": str(error)}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/subscribe", response_class=HTMLResponse)
    def subscribe_form(request: Request) -> HTMLResponse:
        locale = browser_locale(request)
        return site.page(
            "subscribe",
            locale,
            csrf=site.csrf.make("subscribe"),
            action="/subscribe",
            form={"email": "", "name": "", "locale": locale},
            problem="",
        )

    @app.post("/subscribe", response_class=HTMLResponse)
    def subscribe(
        request: Request,
        email: str = Form(""),
        name: str = Form(""),
        locale: str = Form(""),
        timezone: str = Form(""),
        website: str = Form(""),
        csrf: str = Form(""),
        db: Session = Depends(session),
    ) -> HTMLResponse:
        page_locale = locale if locale in config.locales else browser_locale(request)
        localizer, _ = site.environment(page_locale)
        if not site.csrf.valid("subscribe", csrf) or not from_us(request):
            return site.message(
                page_locale,
                N_("This form has expired"),
                N_("Reload the page and send the form again."),
                400,
            )
        client = _client(request)
        if not site.limiter.allow(client):
            return site.message(
                page_locale,
                N_("Too many attempts"),
                N_("Please wait a few minutes and try again."),
                429,
            )
        done = site.message(
            page_locale,
            N_("Check your inbox"),
            N_(
                "If the address can receive our newsletter, a confirmation email is on its way. Click the button in it to finish subscribing."
            ),
        )
        if website:
            return done  # A bot filled the hidden field: answer as usual, do nothing.
        form = {"email": email[:MAX_EMAIL], "name": name[:MAX_NAME], "locale": page_locale}
        try:
            if len(email) > MAX_EMAIL or len(name) > MAX_NAME:
                raise NewsletterError("too long")
            zone = timezone if timezone and registry.valid_timezone(timezone) else config.timezone
            profile = registry.make_profile(
                email,
                name,
                page_locale,
                zone,
                (),
                config.locales,
                config.default_locale,
                config.timezone,
            )
        except NewsletterError:
            problem = localizer.gettext("Please enter a valid email address.")
            return site.page(
                "subscribe",
                page_locale,
                400,
                csrf=site.csrf.make("subscribe"),
                action="/subscribe",
                form=form,
                problem=problem,
            )
        now = site.clock()
        subscriber = registry.find(db, profile.address)
        if subscriber is None and not registry.is_suppressed(db, profile.key):
            subscriber = registry.add(
                db, profile, status="pending", method="form", source=client, now=now
            )
        elif subscriber is None or subscriber.status != "pending":
            return done  # Already subscribed, unsubscribed or suppressed: the same answer, nothing sent.
        db.commit()
        try:
            _send_confirmation(site, subscriber)
        except (NewsletterError, OSError) as error:
            log.error("confirmation email to subscriber %s failed: %s", subscriber.id, error)
            return site.message(
                page_locale,
                N_("We could not send the confirmation email"),
                N_("Please try again later."),
                503,
            )
        return done

    @app.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(token: str, request: Request, db: Session = Depends(session)) -> HTMLResponse:
        subscriber = site.tokens.subscriber(db, "confirm", token)
        return site.page(
            "confirm",
            subscriber.locale,
            csrf=site.csrf.make(f"confirm:{subscriber.id}"),
            action=f"/confirm/{token}",
        )

    @app.post("/confirm/{token}", response_class=HTMLResponse)
    def confirm(
        token: str, request: Request, csrf: str = Form(""), db: Session = Depends(session)
    ) -> HTMLResponse:
        subscriber = site.tokens.subscriber(db, "confirm", token)
        if not site.csrf.valid(f"confirm:{subscriber.id}", csrf) or not from_us(request):
            return site.message(
                subscriber.locale,
                N_("This form has expired"),
                N_("Reload the page and send the form again."),
                400,
            )
        registry.confirm(db, subscriber, source=_client(request), now=site.clock())
        db.commit()
        if subscriber.status != "active":
            return invalid_link(subscriber.locale)
        return site.message(
            subscriber.locale,
            N_("You are subscribed"),
            N_("Welcome! The next issue will arrive in your inbox."),
        )

    @app.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_page(
        token: str, request: Request, db: Session = Depends(session)
    ) -> HTMLResponse:
        subscriber = site.tokens.subscriber(db, "unsubscribe", token)
        preferences = page_url("", "preferences", site.tokens.make("preferences", subscriber))
        return site.page(
            "unsubscribe",
            subscriber.locale,
            action=f"/unsubscribe/{token}",
            preferences=preferences,
        )

    @app.post("/unsubscribe/{token}", response_class=HTMLResponse)
    async def unsubscribe(token: str, request: Request) -> HTMLResponse:
        # RFC 8058 one-click: the mail client POSTs "List-Unsubscribe=One-Click" with no cookie,
        # no CSRF token and follows no redirect; the answer is 200. The token is the authority.
        body = (await request.body()).decode("utf-8", "replace")
        method = "one-click" if "List-Unsubscribe=One-Click" in body else "link"
        with Session(site.engine) as db:
            subscriber = site.tokens.subscriber(db, "unsubscribe", token)
            registry.unsubscribe(
                db,
                subscriber,
                method=method,
                source=_client(request),
                now=site.clock(),
            )
            db.commit()
            return site.message(
                subscriber.locale,
                N_("You are unsubscribed"),
                N_("You will not receive any more emails from us."),
            )

    @app.get("/preferences/{token}", response_class=HTMLResponse)
    def preferences_page(
        token: str, request: Request, db: Session = Depends(session)
    ) -> HTMLResponse:
        subscriber = site.tokens.subscriber(db, "preferences", token)
        return _preferences(site, db, subscriber, token, saved=False, problem="")

    @app.post("/preferences/{token}", response_class=HTMLResponse)
    def save_preferences(
        token: str,
        request: Request,
        locale: str = Form(""),
        timezone: str = Form(""),
        tags: list[str] = Form(default_factory=list),
        csrf: str = Form(""),
        db: Session = Depends(session),
    ) -> HTMLResponse:
        subscriber = site.tokens.subscriber(db, "preferences", token)
        if not site.csrf.valid(f"preferences:{subscriber.id}", csrf) or not from_us(request):
            return site.message(
                subscriber.locale,
                N_("This form has expired"),
                N_("Reload the page and send the form again."),
                400,
            )
        known = set(db.exec(select(Tag.name)).all())
        if (
            locale not in config.locales
            or not registry.valid_timezone(timezone)
            or not set(tags) <= known
        ):
            problem = site.environment(subscriber.locale)[0].gettext(
                "Please choose from the lists."
            )
            return _preferences(
                site, db, subscriber, token, saved=False, problem=problem, status=400
            )
        registry.update_preferences(
            db,
            subscriber,
            locale=locale,
            timezone=timezone,
            tags=tags,
            source=_client(request),
            now=site.clock(),
        )
        db.commit()
        return _preferences(site, db, subscriber, token, saved=True, problem="")


def _client(request: Request) -> str:
    """The client's address (as the proxy reports it when uvicorn trusts its headers)."""
    return request.client.host if request.client else "unknown"


def _preferences(
    site: Site,
    db: Session,
    subscriber: Subscriber,
    token: str,
    *,
    saved: bool,
    problem: str,
    status: int = 200,
) -> HTMLResponse:
    unsubscribe = page_url("", "unsubscribe", site.tokens.make("unsubscribe", subscriber))
    form = {
        "locale": subscriber.locale,
        "timezone": subscriber.timezone,
        "tags": registry.tags_of(db, subscriber),
    }
    return site.page(
        "preferences", subscriber.locale, status,
        csrf=site.csrf.make(f"preferences:{subscriber.id}"), action=f"/preferences/{token}", form=form,
        timezones=sorted(zoneinfo.available_timezones()), topics=sorted(db.exec(select(Tag.name)).all()),
        saved=saved, problem=problem, unsubscribe=unsubscribe,
    )  # fmt: skip


def _send_confirmation(site: Site, subscriber: Subscriber) -> None:
    """The double opt-in email, rendered once per locale and merged for this subscriber."""
    config = site.project.config
    notice = site.notices.render("confirm", subscriber.locale)
    values = {
        "email": subscriber.email,
        "name": subscriber.name,
        "confirm_url": page_url(
            config.base_url, "confirm", site.tokens.make("confirm", subscriber)
        ),
    }
    html, text = personalize(notice.html, notice.text, values)
    sent = send_notice(
        config, site.transport, to=subscriber.email, subject=notice.subject, text=text,
        html=html, now=site.clock(), reply_to=config.reply_to,
    )  # fmt: skip
    if sent.state != "sent":
        log.warning("confirmation to subscriber %s not sent: %s", subscriber.id, sent.reply)
