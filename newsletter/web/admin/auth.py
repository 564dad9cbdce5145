"""Who is asking, on every dashboard route: a session cookie of a user with the route's role,
and on every POST the session's CSRF token from a page of this site.

    GET without a session              303 to /admin/login?next=PATH
    POST without a session             403
    POST without the session's token, or from another site
                                       403, nothing changed
    a role below the route's           403, nothing changed

The cookie (`nl_admin`) holds the session id: HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it), Secure when base_url is https, Path=/admin (the public pages
never see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from newsletter.access.models import User
from newsletter.access.sessions import form_token, form_token_valid, resume_session
from newsletter.access.users import Role
from newsletter.render.i18n import N_
from newsletter.web.admin.layout import render
from newsletter.web.redirects import local_path
from newsletter.web.site import Site, current_site

COOKIE = "nl_admin"
PATH = "/admin"
TOKEN_FIELD = "csrf"
SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Admin:
    """The logged-in user of a request, their session id and its forms' CSRF token."""

    user: User
    session_id: str
    form_token: str

    @property
    def role(self) -> Role:
        """The user's role."""
        return Role(self.user.role)

    def may(self, needed: Role) -> bool:
        """Whether the user's role allows what `needed` may do (templates show buttons by it)."""
        return self.role.allows(needed)


class Refused(Exception):
    """A dashboard request that is not let through: the page that says why, or a redirect."""

    def __init__(self, status: int, heading: str, text: str = "", location: str = "") -> None:
        super().__init__(heading)
        self.status, self.heading, self.text, self.location = status, heading, text, location


def install_admin_handlers(app: FastAPI) -> None:
    """Answer a Refused with its page (or its redirect to the login page)."""
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]


def require_role(role: Role) -> Any:
    """The dependency of a dashboard route that needs `role`: the logged-in Admin, or Refused."""

    async def admin(request: Request, site: Site = Depends(current_site)) -> Admin:
        found = signed_in(request, site)
        if found is None:
            if request.method in SAFE_METHODS:
                query = "next=" + local_path(request.url.path, request.url.query)
                raise Refused(303, "", location=local_path(f"{PATH}/login", query))
            raise Refused(403, N_("You are not logged in"), N_("Log in, then try again."))
        if request.method not in SAFE_METHODS:
            await check_form(request, site, found.session_id)
        if not found.may(role):
            raise Refused(
                403,
                N_("Your role does not allow this"),
                N_("Ask an administrator if you need to do it."),
            )
        return found

    return Depends(admin)


def signed_in(request: Request, site: Site) -> Admin | None:
    """The Admin of the request's session cookie, or None (no cookie, an ended session)."""
    session_id = request.cookies.get(COOKIE, "")
    user = resume_session(site.engine, session_id, site.clock()) if session_id else None
    if user is None:
        return None
    return Admin(user, session_id, form_token(secret_of(site), session_id))


async def check_form(request: Request, site: Site, session_id: str) -> None:
    """Refused (403) unless the form was posted from this site with `session_id`'s token."""
    form = await request.form()
    token = form.get(TOKEN_FIELD)
    if (
        not site.from_us(request)
        or not isinstance(token, str)
        or not form_token_valid(secret_of(site), session_id, token)
    ):
        raise Refused(403, N_("This form has expired"), N_("Reload the page and try again."))


def secret_of(site: Site) -> str:
    """NEWSLETTER_SECRET_KEY, which the CSRF tokens are derived from."""
    return site.project.secret("NEWSLETTER_SECRET_KEY") or ""


def set_cookie(response: Response, site: Site, session_id: str) -> None:
    """Give the browser the session cookie (until it closes; the server ends the session)."""
    response.set_cookie(
        COOKIE,
        session_id,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=site.project.config.base_url.startswith("https://"),
    )


def clear_cookie(response: Response, site: Site) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(
        COOKIE,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=site.project.config.base_url.startswith("https://"),
    )


async def _refused(request: Request, refusal: Refused) -> Response:
    if refusal.location:
        return Response(status_code=refusal.status, headers={"Location": refusal.location})
    site = current_site(request)
    return render(
        request,
        site,
        "message",
        None,
        status=refusal.status,
        heading=refusal.heading,
        text=refusal.text,
    )
