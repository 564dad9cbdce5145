"""The dashboard's issues, /admin/issues: the content folder's issues with `check`'s findings,
and a test send of one to an address (editors; newsletter/sends.py, as `send --test` does)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from newsletter.access import audit
from newsletter.access.users import Role
from newsletter.errors import NewsletterError
from newsletter.sends import load_issue_by_slug, test_send
from newsletter.web.admin.auth import Admin, require_role
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site

router = APIRouter()
SITE = Depends(current_site)


@router.get("/issues", response_class=HTMLResponse)
def issues_page(
    request: Request, admin: Admin = require_role(Role.VIEWER), site: Site = SITE
) -> HTMLResponse:
    """Every issue: its editions, whether it was sent, its errors and warnings."""
    return render(request, site, "issues", admin, issues=site.catalog.issues())


@router.get("/issues/{slug}", response_class=HTMLResponse)
def issue_page(
    request: Request, slug: str, admin: Admin = require_role(Role.VIEWER), site: Site = SITE
) -> HTMLResponse:
    """One issue: each finding with its file, line and fix, and the test-send form (editors)."""
    return _issue(request, site, admin, slug)


@router.post("/issues/{slug}/test", response_class=HTMLResponse)
def send_test_message(
    request: Request,
    slug: str,
    address: Annotated[str, Form(max_length=320)],
    locale: Annotated[str, Form(max_length=35)] = "",
    admin: Admin = require_role(Role.EDITOR),
    site: Site = SITE,
) -> HTMLResponse:
    """Send the issue (the edition readers of `locale` get, or every edition) to `address`,
    `[TEST]` in the subject; the page says what became of each message."""
    issue = load_issue_by_slug(site.project, slug)
    try:
        results = test_send(site.project, issue, [address], [locale] if locale else [])
    except NewsletterError as error:
        return _issue(request, site, admin, slug, problem=error.message, status=422)
    audit.record_now(
        site.engine, admin.user.name, "send.test", issue.slug, site.clock(),
        {"messages": len(results)},
    )  # fmt: skip
    outcomes = [
        {"edition": edition, "state": o.state, "reply": o.reply} for _, edition, o in results
    ]
    return _issue(request, site, admin, slug, outcomes=outcomes, address=address)


def _issue(
    request: Request, site: Site, admin: Admin, slug: str, *, status: int = 200, **context: object
) -> HTMLResponse:
    line = site.catalog.issue(slug)
    context = {"outcomes": [], "problem": "", "address": "", **context}
    return render(
        request, site, "issue", admin, status=status, issue=line,
        can_test=admin.may(Role.EDITOR), **context,
    )  # fmt: skip
