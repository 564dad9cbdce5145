"""Who calls the API: a bearer key with the scope a route needs, within its rate limit.

401  no key, a malformed, unknown or revoked one (with `WWW-Authenticate: Bearer`)
403  a valid key without the route's scope
429  a key over `api_rate_limit` requests a minute (with `Retry-After`)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsletter.access.keys import KeyHolder, Scope, holder_of
from newsletter.web.api.problems import Refused
from newsletter.web.security import RateLimiter
from newsletter.web.site import Site, current_site

WINDOW = 60.0
"""The rate limit's window (seconds): `api_rate_limit` requests per key in it, per process."""
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="api_key",
    description="An API key from `newsletter api-key create NAME --scope ...`.",
)


def require(scope: Scope) -> Any:
    """The dependency of a route that needs `scope`: the caller's key, or 401, 403 or 429."""

    def caller(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(BEARER),
        site: Site = Depends(current_site),
    ) -> KeyHolder:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("send an API key as `Authorization: Bearer KEY`")
        holder = holder_of(site.engine, credentials.credentials, site.clock())
        if holder is None:
            raise _unauthorized("the API key is not valid: unknown, revoked or mistyped")
        if scope not in holder.scopes:
            raise Refused(
                403,
                f"the API key {holder.prefix} lacks the scope {scope.value}",
                f"create a key with `newsletter api-key create NAME --scope {scope.value}`",
            )
        if not _limiter(request, site).allow(holder.prefix):
            raise Refused(
                429,
                f"the API key {holder.prefix} made more than "
                f"{site.project.config.api_rate_limit} requests a minute",
                "wait a minute, then send fewer requests (lists take up to 500 per page)",
                {"Retry-After": str(int(WINDOW))},
            )
        return holder

    return Depends(caller)


def _unauthorized(detail: str) -> Refused:
    hint = "create one with `newsletter api-key create NAME --scope SCOPE`"
    return Refused(401, detail, hint, {"WWW-Authenticate": "Bearer"})


def _limiter(request: Request, site: Site) -> RateLimiter:
    """The app's one limiter of API keys (made with the app's clock on first use)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "api_limiter", None)
    if limiter is None:
        monotonic: Callable[[], float] = getattr(state, "monotonic", time.monotonic)
        limit = site.project.config.api_rate_limit
        limiter = state.api_limiter = RateLimiter(limit, WINDOW, monotonic)
    return limiter
