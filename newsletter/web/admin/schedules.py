"""The dashboard's schedules, /admin/schedules: each with its next time and last firing; editors
pause, resume and cancel them (newsletter/schedules.py, as `newsletter schedule` does)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.access import audit
from newsletter.access.users import Role
from newsletter.schedules import Change, change_schedule, schedules
from newsletter.web.admin.auth import PATH, Admin, require_role
from newsletter.web.admin.layout import render
from newsletter.web.site import Site, current_site

router = APIRouter()
SITE = Depends(current_site)


@router.get("/schedules", response_class=HTMLResponse)
def schedules_page(
    request: Request, admin: Admin = require_role(Role.VIEWER), site: Site = SITE
) -> HTMLResponse:
    """Every schedule, the next to fire first: what it sends, when next, how it last fired."""
    found = [
        {
            "id": planned.id,
            "what": planned.schedule.describe(),
            "audience": planned.schedule.to or planned.schedule.tag,
            "next_run": planned.next_run,
            "last": fired,
        }
        for planned, fired in schedules(site.project, site.engine)
    ]
    return render(
        request, site, "schedules", admin, schedules=found, can_change=admin.may(Role.EDITOR)
    )


@router.post("/schedules/{schedule_id}/{change}")
def change(
    schedule_id: str,
    change: Change,
    admin: Admin = require_role(Role.EDITOR),
    site: Site = SITE,
) -> Response:
    """Pause, resume or cancel a schedule, recorded in the audit log; back to the list."""
    changed = change_schedule(site.project, site.engine, change, schedule_id)
    audit.record_now(
        site.engine, admin.user.name, f"schedule.{change.value}", changed.id, site.clock()
    )
    return Response(status_code=303, headers={"Location": f"{PATH}/schedules"})
