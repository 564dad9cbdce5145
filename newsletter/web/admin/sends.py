"""The dashboard's sends: the list, one send's page with its live progress, pausing and resuming.

    GET  /admin/sends?before=ID             viewer   newest first, PAGE at a time (keyset)
    GET  /admin/sends/ID                    viewer   progress, deliveries per locale and state,
                                                     what came back, failures
    GET  /admin/sends/ID/progress           viewer   the progress as JSON, for the page's script
    POST /admin/sends/ID/pause|resume       admin    as `newsletter pause|resume`, audited
    GET  /admin/static/progress.js          viewer   the script that polls the progress

The numbers are newsletter/send_status.py's, the API's too. The send's page is complete without
its script (a reload shows the current numbers); the script only spares the reload.
"""

from __future__ import annotations

import functools
import hashlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from newsletter.access import audit
from newsletter.access.users import Role
from newsletter.send_control import pause_send, queue_rest_of_send, resume_send
from newsletter.send_status import (
    FAILURES_SHOWN,
    send_by_id,
    send_details,
    send_status,
    sends_page,
)
from newsletter.web.admin.auth import PATH, Admin, require_role
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site

router = APIRouter()
SITE = Depends(current_site)
PAGE = 20
"""Sends a page: each is counted over its deliveries (50 sends of 20,000 took 0.3 s on PostgreSQL)."""
SCRIPT = Path(__file__).resolve().parent / "static" / "progress.js"


class SendChange(StrEnum):
    """What an admin may do to a send from its page."""

    PAUSE = "pause"
    RESUME = "resume"
    QUEUE_REST = "queue-rest"
    """The rest of an audience whose queueing was interrupted queued; a pause stays."""


@router.get("/sends", response_class=HTMLResponse)
def sends_list(
    request: Request,
    before: Annotated[int | None, Query(ge=1)] = None,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = SITE,
) -> HTMLResponse:
    """The sends (issues' and sequence steps'), newest first, each with how far it got."""
    lines, older = sends_page(site.engine, before, PAGE, site.clock())
    return render(request, site, "sends", admin, sends=lines, older=older)


@router.get("/sends/{mailing_id}", response_class=HTMLResponse)
def send_page(
    request: Request,
    mailing_id: int,
    admin: Admin = require_role(Role.VIEWER),
    site: Site = SITE,
) -> HTMLResponse:
    """One send: when it started, its phase and progress, its deliveries per locale and
    state, the bounces, complaints and clicks, the failures; Pause or Resume for admins, and
    Queue the rest while its recipients are being queued."""
    mailing = send_by_id(site.engine, mailing_id)
    details = send_details(site.engine, mailing, site.clock())
    return render(
        request, site, "send", admin, scripts=True, details=details,
        can_change=admin.may(Role.ADMIN), failures_shown=FAILURES_SHOWN,
        script=f"{PATH}/static/progress.js?v={script()[1]}",
    )  # fmt: skip


@router.get("/sends/{mailing_id}/progress")
def send_progress(
    mailing_id: int, admin: Admin = require_role(Role.VIEWER), site: Site = SITE
) -> JSONResponse:
    """The send's deliveries by state (in all and per locale), done, total, percent, its phase
    and whether it is finished: what the page's script polls."""
    status = send_status(site.engine, send_by_id(site.engine, mailing_id), site.clock())
    return JSONResponse(
        {**status.progress.document(), "locales": status.locales},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/sends/{mailing_id}/{change}")
def change_send(
    mailing_id: int,
    change: SendChange,
    admin: Admin = require_role(Role.ADMIN),
    site: Site = SITE,
) -> Response:
    """Pause the send (workers claim nothing more of it; the messages in flight finish), let
    it go on, or queue the rest of an audience whose queueing was interrupted (a pause stays),
    recorded in the audit log; back to its page."""
    mailing = send_by_id(site.engine, mailing_id)
    now = site.clock()
    added = 0
    if change is SendChange.PAUSE:
        pause_send(site.project, site.engine, mailing.issue, now)
    elif change is SendChange.RESUME:  # An interrupted queueing of its audience is completed too.
        _, added = resume_send(site.project, site.engine, mailing.issue, now)
    else:
        _, added = queue_rest_of_send(site.project, site.engine, mailing.issue, now)
    told = {"added": added} if added or change is SendChange.QUEUE_REST else {}
    audit.record_now(
        site.engine, admin.user.name, f"send.{change.value.replace('-', '_')}", mailing.issue,
        now, {"mailing_id": mailing_id, **told},
    )  # fmt: skip
    return Response(status_code=303, headers={"Location": f"{PATH}/sends/{mailing_id}"})


@router.get("/static/progress.js")
def progress_script(admin: Admin = require_role(Role.VIEWER)) -> Response:
    """The send page's script. Its URL carries a digest of its content (`?v=`), so a browser
    may keep it: a changed script comes under another URL."""
    content, _ = script()
    return Response(
        content,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


@functools.cache
def script() -> tuple[bytes, str]:
    """The script's bytes and the start of their SHA-256, read once."""
    content = SCRIPT.read_bytes()
    return content, hashlib.sha256(content).hexdigest()[:12]
