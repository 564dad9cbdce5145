"""The dashboard, /admin/ (docs/admin.md): the CLI's library functions for people, by role.

    GET  /login, POST /login, POST /logout        anyone; logging in and out (admin/login.py)
    GET  /                                        viewer   the overview (admin/overview.py)
    GET  /subscribers, /subscribers/{id}          viewer   (admin/subscribers.py)
    POST /subscribers/{id}/edit|unsubscribe|forget admin
    GET  /issues, /issues/{slug}                  viewer   check's findings (admin/issues.py)
    POST /issues/{slug}/test                      editor   a test send to an address
    GET  /issues/{slug}/send, POST                admin    starting its send, confirmed first
    GET  /sends, /sends/{id}                      viewer   (admin/sends.py)
    GET  /sends/{id}/progress                     viewer   JSON, for the live progress
    POST /sends/{id}/pause|resume                 admin
    GET  /static/progress.js                      viewer   the send page's one script
    GET  /schedules                               viewer   (admin/schedules.py)
    POST /schedules/{id}/pause|resume|cancel      editor
    GET  /audit                                   admin    the audit log (admin/audit_log.py)

Every route but the login form needs a session of a user with the route's role, and every
POST the session's CSRF token (admin/auth.py); every change is written to the audit log in the
transaction that makes it. Pages are server-rendered from templates/THEME/admin/; a send's
page alone loads a script (its live progress), served from the package, and works without it.
A part added later (schedules, issues, sends, the audit log) is one more module with a router,
included here.
"""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.web.admin import audit_log, issues, login, overview, schedules, sends, subscribers
from newsletter.web.admin.auth import PATH, install_admin_handlers

__all__ = ["PATH", "install_admin_handlers", "router"]

router = APIRouter(prefix=PATH)
router.include_router(login.router)
router.include_router(overview.router)
router.include_router(subscribers.router)
router.include_router(issues.router)
router.include_router(sends.router)
router.include_router(schedules.router)
router.include_router(audit_log.router)
