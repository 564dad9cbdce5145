"""How the dashboard's pages are rendered: templates/THEME/admin/NAME.html.j2, in the browser's
language, never cached or framed; no script runs on them but the app's own files on the pages
that ask for them (a send's live progress)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from newsletter.web.admin.labels import labeller
from newsletter.web.site import Site

if TYPE_CHECKING:
    from newsletter.web.admin.auth import Admin

HEADERS = {
    "Cache-Control": "no-store",
    # Origin (or Referer) goes with our own form posts only: the same-origin check needs it.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The pages need no script at all; styles are inline, forms post to this site only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
SCRIPTS = "; script-src 'self'; connect-src 'self'"
"""What a page with a script of ours allows besides: files of this site (never inline code,
so markup that got in cannot run), and requests to this site (the script's polling)."""


def render(
    request: Request,
    site: Site,
    name: str,
    admin: Admin | None,
    *,
    status: int = 200,
    scripts: bool = False,
    **context: Any,
) -> HTMLResponse:
    """The dashboard page `name` for `admin` (None on the login page and refusals); with
    `scripts`, the page may load the app's own scripts (web/admin/static/)."""
    localizer, environment = site.environment(site.browser_locale(request))
    # Headings and texts come marked with N_; gettext("") would give the catalog's header.
    for key in ("heading", "text"):
        context[key] = localizer.gettext(context[key]) if context.get(key) else ""
    page = environment.get_template(f"admin/{name}.html.j2").render(
        newsletter={"name": site.project.config.name},
        locale=localizer.layout,
        label=labeller(localizer),
        admin=admin,
        csrf=admin.form_token if admin else "",
        path=request.url.path,
        **context,
    )
    headers = HEADERS
    if scripts:
        headers = {
            **HEADERS,
            "Content-Security-Policy": HEADERS["Content-Security-Policy"] + SCRIPTS,
        }
    return HTMLResponse(page, status_code=status, headers=headers)
