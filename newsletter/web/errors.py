"""One answer per kind of failure, for every router: a page for people, problem+json for programs.

    InvalidToken              400, the "link is not valid" page (any tampered, expired or
                              foreign link: one answer for all)
    Rejected (a webhook's signature), Malformed (its body)
                              403, 400
    NotFoundError             404
    ConflictError             409 (a schedule that exists already)
    DatabaseError, OperationalError, ConfigError, Misconfigured (a webhook's own setting)
                              503, nothing about how or where (the log says why)
    any other NewsletterError 400 for programs (its message and fix, as the CLI prints them);
                              for people, logged and 503: a page never raises one on purpose

Programs are the requests to /webhooks/ and /api/ and those that accept only JSON; their answer
is an RFC 9457 problem document.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError

from newsletter.errors import (
    ConfigError,
    ConflictError,
    DatabaseError,
    NewsletterError,
    NotFoundError,
)
from newsletter.inbound.providers.events import Malformed, Misconfigured, Rejected
from newsletter.render.i18n import N_
from newsletter.subscribers.registry import InvalidProfile
from newsletter.subscribers.tokens import InvalidToken
from newsletter.web.site import current_site

log = logging.getLogger(__name__)
PROGRAM_PATHS = ("/webhooks/", "/api/")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every NewsletterError (and a database that fails) the same way on every route."""
    app.add_exception_handler(NewsletterError, _newsletter_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_failed)


def for_programs(request: Request) -> bool:
    """Whether the request comes from a program (webhooks, the API, JSON only), not a person."""
    if request.url.path.startswith(PROGRAM_PATHS):
        return True
    accept = request.headers.get("accept", "")
    return "json" in accept and "html" not in accept


def status_of(error: Exception) -> int:
    """The HTTP status that says what kind of failure `error` is."""
    if isinstance(error, Rejected):
        return 403
    if isinstance(error, InvalidToken | Malformed):
        return 400
    if isinstance(error, InvalidProfile):
        return 422  # A field of a program's request (the forms answer their own).
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, DatabaseError | ConfigError | Misconfigured | OperationalError):
        return 503
    return 400


def problem(status: int, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document: `title` says what is wrong, `detail` the fix; `extra`
    members (the API's `errors`) are added as they are."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def _newsletter_error(request: Request, error: NewsletterError) -> Response:
    status = status_of(error)
    if status == 503:
        return await _database_failed(request, error)
    if for_programs(request):
        return problem(status, error.message, error.hint or "")
    site = current_site(request)
    locale = site.browser_locale(request)
    if isinstance(error, InvalidToken):
        return site.invalid_link(locale)
    if status == 404:
        return site.message(locale, N_("Page not found"), N_("This link is not valid"), 404)
    log.error("%s %s: %s", request.method, request.url.path, error)
    return site.unavailable(locale)


async def _database_failed(request: Request, error: Exception) -> Response:
    # The cause (with the database's URL) goes to the log, never to the visitor.
    log.error("%s %s: the service failed: %s", request.method, request.url.path, error)
    if for_programs(request):
        return problem(503, "The service is unavailable", "try again later")
    site = current_site(request)
    return site.unavailable(site.browser_locale(request))
