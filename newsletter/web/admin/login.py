"""Logging in and out of the dashboard.

    GET  /admin/login    the form: name, password, and the authenticator's code for users with TOTP
    POST /admin/login    a new session (never the one the browser brought), then 303 to `next`
    POST /admin/logout   the session ends

Failed logins are limited per client address and per name (LOGIN_LIMIT): past it, the form
answers 429 for a while, even to the right password, so guessing is slow from one address and
for one account from many. Every failure reads the same, whatever was wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from newsletter.access import audit
from newsletter.access.sessions import end_session, start_session
from newsletter.access.users import MAX_NAME, Role, verify_login
from newsletter.render.i18n import N_
from newsletter.web.admin.auth import (
    COOKIE,
    PATH,
    Admin,
    Refused,
    clear_cookie,
    require_role,
    set_cookie,
)
from newsletter.web.admin.layout import render
from newsletter.web.redirects import local_path
from newsletter.web.security import RateLimiter
from newsletter.web.site import Site, client_address, current_site

log = logging.getLogger(__name__)
router = APIRouter()
SITE = Depends(current_site)
LOGIN_LIMIT = (5, 15 * 60.0)
"""Failed logins per client address, and per name, in a window of seconds (per process)."""
LOGIN_FORM = "admin-login"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "", site: Site = SITE) -> HTMLResponse:
    """The login form."""
    return _form(request, site, _next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    site: Site = SITE,
) -> Response:
    """A new session for the user these are, or the form again (401, or 429 past the limit)."""
    if not site.from_us(request) or not site.csrf.valid(LOGIN_FORM, csrf):
        raise Refused(403, N_("This form has expired"), N_("Reload the page and try again."))
    by_address, by_name = _limiters(request)
    address, who = client_address(request), name.strip()[:MAX_NAME].casefold()
    if by_address.exhausted(address) or by_name.exhausted(who):
        log.warning("admin login refused (too many failures): %r from %s", who, address)
        message = N_("Too many failed attempts. Wait 15 minutes, then try again.")
        return _form(request, site, _next(next), message, 429)
    now = site.clock()
    user = verify_login(site.engine, name, password, code, now)
    if user is None or user.id is None:
        by_address.allow(address)
        by_name.allow(who)
        log.warning("admin login failed: %r from %s", who, address)
        message = N_("The name, password or code is not right.")
        return _form(request, site, _next(next), message, 401)
    # The browser's former session (if any) ends: the new one is never an id it brought.
    if request.cookies.get(COOKIE):
        end_session(site.engine, request.cookies[COOKIE])
    session_id = start_session(site.engine, user.id, now)
    with Session(site.engine) as db:
        audit.record(db, user.name, "login", user.name, now, {"address": address})
        db.commit()
    response = Response(status_code=303, headers={"Location": _next(next)})
    set_cookie(response, site, session_id)
    return response


@router.post("/logout")
def logout(
    request: Request, admin: Admin = require_role(Role.VIEWER), site: Site = SITE
) -> Response:
    """End the session and go back to the login form."""
    end_session(site.engine, admin.session_id)
    with Session(site.engine) as db:
        audit.record(db, admin.user.name, "logout", admin.user.name, site.clock())
        db.commit()
    response = Response(status_code=303, headers={"Location": f"{PATH}/login"})
    clear_cookie(response, site)
    return response


def _form(
    request: Request, site: Site, next_path: str, problem: str = "", status: int = 200
) -> HTMLResponse:
    return render(
        request,
        site,
        "login",
        None,
        status=status,
        token=site.csrf.make(LOGIN_FORM),
        next=next_path,
        text=problem,
    )


def _next(given: str) -> str:
    """Where to go after logging in: a dashboard path, never another site."""
    path = local_path(given.split("?", 1)[0], given.split("?", 1)[1] if "?" in given else "")
    return path if path.startswith(f"{PATH}/") else f"{PATH}/"


def _limiters(request: Request) -> tuple[RateLimiter, RateLimiter]:
    """The app's limiters of failed logins, per address and per name (made on first use)."""
    state = request.app.state
    found: tuple[RateLimiter, RateLimiter] | None = getattr(state, "admin_login_limiters", None)
    if found is None:
        monotonic: Callable[[], float] = getattr(state, "monotonic", time.monotonic)
        found = state.admin_login_limiters = (
            RateLimiter(LOGIN_LIMIT[0], LOGIN_LIMIT[1], monotonic),
            RateLimiter(LOGIN_LIMIT[0], LOGIN_LIMIT[1], monotonic),
        )
    return found
