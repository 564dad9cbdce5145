"""What every page of the public web app shares: the project, the templates per locale, the
request's language and origin, and the pages that say something went wrong."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from sqlalchemy import Engine
from sqlmodel import Session

from newsletter.catalog import Catalog
from newsletter.config import Project
from newsletter.deliver.transports import Transport
from newsletter.render.i18n import N_, Localizer, language, negotiate
from newsletter.render.notices import Notices
from newsletter.render.templates import template_environment, theme_search_path
from newsletter.signups import Mailer
from newsletter.subscribers.tokens import Tokens
from newsletter.web.security import Csrf, RateLimiter, same_origin

# What a form page says about a field it refuses (registry.InvalidProfile names the field).
FIELD_PROBLEMS = {
    "email": N_("Please enter a valid email address."),
    "name": N_("Please enter a name of at most 200 characters, without control characters."),
    "locale": N_("Please choose a language from the list."),
    "timezone": N_("Please choose a time zone from the list."),
    "tags": N_("Please choose topics from the list."),
}


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
    def mailer(self) -> Mailer:
        """What sends the confirmation emails of the form and the API (newsletter/signups.py)."""
        return Mailer(self.project, self.notices, self.tokens, self.transport, self.clock)

    @functools.cached_property
    def catalog(self) -> Catalog:
        """The issues with their check findings, kept for the app's life (newsletter/catalog.py)."""
        return Catalog(self.project, self.engine)

    @functools.cached_property
    def languages(self) -> list[dict[str, str]]:
        """The language choices of the forms, each named in its own language."""
        return [language(code) for code in self.project.config.locales]

    @functools.cached_property
    def hosts(self) -> set[str]:
        """The host (and port) of the public base URL: forms posted from there are ours."""
        return {self.project.config.base_url.split("://", 1)[1].split("/", 1)[0]}

    def environment(self, locale: str) -> tuple[Localizer, Environment]:
        """The page templates in `locale`, built once per locale for the life of the app."""
        if locale not in self._environments:
            localizer = Localizer(locale)
            search_path = theme_search_path(self.project.root, self.project.config.theme)
            self._environments[locale] = (localizer, template_environment(search_path, localizer))
        return self._environments[locale]

    def page(self, name: str, locale: str, status: int = 200, **context: Any) -> HTMLResponse:
        """`templates/THEME/pages/NAME.html.j2` in `locale`, never cached, framed or referred."""
        localizer, environment = self.environment(locale)
        config = self.project.config
        page = environment.get_template(f"pages/{name}.html.j2").render(
            newsletter={
                "name": config.name,
                "base_url": config.base_url,
                "postal_address": config.postal_address,
            },
            locale=localizer.layout,
            languages=self.languages,
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

    def topics(self, tags: Iterable[str], locale: str) -> list[dict[str, str]]:
        """`tags` as topics readers in `locale` can choose: each one's name there (or the
        default locale's, marked with its language, or the tag itself), in the order of those
        names."""
        config = self.project.config
        topics = []
        for tag in tags:
            name, named_in = config.topic_name(tag, locale)
            other = named_in and named_in != locale
            topics.append(
                {"tag": tag, "name": name, "lang": language(named_in)["lang"] if other else ""}
            )
        return sorted(topics, key=lambda topic: (topic["name"].casefold(), topic["tag"]))

    def message(self, locale: str, heading: str, body: str, status: int = 200) -> HTMLResponse:
        """A page that tells the reader what happened, its texts translated into `locale`."""
        localizer, _ = self.environment(locale)
        return self.page(
            "message",
            locale,
            status,
            heading=localizer.gettext(heading),
            text=localizer.gettext(body),
        )

    def browser_locale(self, request: Request) -> str:
        """`?lang=`, else the best match of the browser's languages, else the default locale."""
        config = self.project.config
        wanted = request.query_params.get("lang", "")
        if wanted in config.locales:
            return wanted
        return (
            negotiate(request.headers.get("accept-language", ""), config.locales)
            or config.default_locale
        )

    def from_us(self, request: Request) -> bool:
        """Whether a form post comes from our own pages (as far as the browser says)."""
        return same_origin(
            request.headers.get("origin"),
            request.headers.get("referer"),
            self.hosts | {request.url.netloc},
        )

    def invalid_link(self, locale: str) -> HTMLResponse:
        """The answer to a token that is tampered, expired or for another purpose or person."""
        return self.message(
            locale,
            N_("This link is not valid"),
            N_(
                "It may have expired or been copied incompletely. Use the link in your most recent email."
            ),
            400,
        )

    def unavailable(self, locale: str) -> HTMLResponse:
        """The answer when the database cannot be reached: 503, nothing about how or where."""
        return self.message(
            locale, N_("The service is unavailable"), N_("Please try again later."), 503
        )

    def form_expired(self, locale: str) -> HTMLResponse:
        """The answer to a form without a valid CSRF token, or posted from another site."""
        return self.message(
            locale,
            N_("This form has expired"),
            N_("Reload the page and send the form again."),
            400,
        )


def current_site(request: Request) -> Site:
    """The Site of the app serving `request` (a FastAPI dependency)."""
    site = request.app.state.site
    assert isinstance(site, Site)
    return site


def database(site: Site = Depends(current_site)) -> Iterator[Session]:
    """A database session for one request (a FastAPI dependency)."""
    with Session(site.engine) as opened:
        yield opened


def client_address(request: Request) -> str:
    """The client's address (as the proxy reports it when uvicorn trusts its headers)."""
    return request.client.host if request.client else "unknown"
