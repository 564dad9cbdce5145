"""The dashboard's audit log, /admin/audit: who changed what, and when, newest first (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from newsletter.access.audit import recent
from newsletter.access.users import Role
from newsletter.web.admin.auth import Admin, require_role
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site

router = APIRouter()
PAGE = 100


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    before: Annotated[int | None, Query(ge=1)] = None,
    admin: Admin = require_role(Role.ADMIN),
    site: Site = Depends(current_site),
) -> HTMLResponse:
    """A page of the audit log, newest first; `before` continues after the last shown."""
    entries = recent(site.engine, PAGE + 1, before)
    shown = entries[:PAGE]
    older = shown[-1].id if len(entries) > PAGE and shown else None
    return render(request, site, "audit", admin, entries=shown, older=older)
