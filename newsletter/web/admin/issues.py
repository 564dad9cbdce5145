"""The dashboard's issues, /admin/issues: the content folder's issues with `check`'s findings,
a test send of one to an address (editors; newsletter/sends.py, as `send --test` does), and
starting its send (admins; as the API's POST /api/v1/sends does):

    GET  /admin/issues/SLUG/send?to=   who would get which edition (`send --dry-run`'s counts),
                                       or why the send would be refused; the form to start it
    POST /admin/issues/SLUG/send       the send started (queued for `newsletter run`), 303 to
                                       its page; the form's one-time token makes a second post
                                       of it (a double click, a retry) go to the same page
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.access import audit
from newsletter.access.idempotency import (
    MAX_KEY,
    USERS,
    Earlier,
    abandon,
    begin,
    finish,
    request_digest,
    settled,
)
from newsletter.access.users import Role
from newsletter.errors import NewsletterError, NotFoundError
from newsletter.render.i18n import N_
from newsletter.sends import load_issue_by_slug, preview_send, queue_send, test_send
from newsletter.web.admin.auth import PATH, Admin, Refused, require_role
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site

router = APIRouter()
SITE = Depends(current_site)
MAX_SEGMENT = 2000


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


@router.get("/issues/{slug}/send", response_class=HTMLResponse)
def confirm_send(
    request: Request,
    slug: str,
    to: Annotated[str, Query(max_length=MAX_SEGMENT)] = "",
    admin: Admin = require_role(Role.ADMIN),
    site: Site = SITE,
) -> HTMLResponse:
    """Who the send would reach with which edition, and the button that starts it; or why it
    would be refused (a draft, settings, a segment that does not parse), as the CLI says it."""
    try:
        preview = preview_send(site.project, site.engine, slug, to=to.strip() or None)
    except NotFoundError:
        raise
    except NewsletterError as error:
        return _issue(request, site, admin, slug, status=422, send_problem=error, to=to)
    return render(
        request, site, "send_confirm", admin, preview=preview, to=to.strip(),
        once=secrets.token_urlsafe(24),
    )  # fmt: skip


@router.post("/issues/{slug}/send")
def start_send(
    request: Request,
    slug: str,
    once: Annotated[str, Form(min_length=16, max_length=MAX_KEY)],
    to: Annotated[str, Form(max_length=MAX_SEGMENT)] = "",
    admin: Admin = require_role(Role.ADMIN),
    site: Site = SITE,
) -> Response:
    """Start the issue's send (its audience queued; `newsletter run` delivers it), recorded in
    the audit log, then 303 to its page. The form's one-time token `once` is taken first, so a
    second post of the same form starts nothing and goes to the same page."""
    user, segment = admin.user.id or 0, to.strip()
    digest = request_digest("POST", request.url.path, segment.encode())
    earlier = begin(site.engine, user, once, digest, site.clock(), ledger=USERS)
    if earlier is not None:
        return _posted_before(site, user, once, earlier)
    try:
        mailing, added = queue_send(
            site.project, site.engine, slug, to=segment or None, clock=site.clock
        )
    except Exception as error:
        # Nothing started, or part of its audience is queued: trying again queues the rest.
        abandon(site.engine, user, once, ledger=USERS)
        if isinstance(error, NewsletterError) and not isinstance(error, NotFoundError):
            return _issue(request, site, admin, slug, status=422, send_problem=error, to=to)
        raise
    location = f"{PATH}/sends/{mailing.id}"
    finish(site.engine, user, once, 303, location, ledger=USERS)
    audit.record_now(
        site.engine, admin.user.name, "send.start", mailing.issue, site.clock(),
        {"added": added, "to": segment, "mailing_id": mailing.id},
    )  # fmt: skip
    return Response(status_code=303, headers={"Location": location})


def _posted_before(site: Site, user: int, once: str, earlier: Earlier) -> Response:
    """The answer to a form posted again: where the first post went (once it has finished)."""
    if not earlier.same:
        raise Refused(
            409, N_("This form was sent before with other values"),
            N_("Go back to the issue and start the send again."),
        )  # fmt: skip
    answer = earlier if earlier.status else settled(site.engine, user, once, ledger=USERS)
    if answer is None:
        raise Refused(
            409, N_("This send is still being started"),
            N_("Wait a moment, then find it in the list of sends."),
        )  # fmt: skip
    return Response(status_code=303, headers={"Location": answer.body})


def _issue(
    request: Request, site: Site, admin: Admin, slug: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    line = site.catalog.issue(slug)
    context = {
        "outcomes": [],
        "problem": "",
        "address": "",
        "send_problem": None,
        "to": "",
        **context,
    }
    return render(
        request, site, "issue", admin, status=status, issue=line,
        can_test=admin.may(Role.EDITOR), can_send=admin.may(Role.ADMIN), **context,
    )  # fmt: skip
