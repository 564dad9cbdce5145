"""The JSON API, /api/v1/ (docs/api.md): the CLI's library functions for programs.

    GET    /subscribers                    subscribers:read    a page of subscribers (cursor)
    POST   /subscribers                    subscribers:write   add one (double_opt_in: pending,
                                                               the confirmation email sent)
    POST   /subscribers/import             subscribers:write   up to 10,000, as a CSV import
    GET    /subscribers/{ref}              subscribers:read    one, by id or address
    PATCH  /subscribers/{ref}              subscribers:write   name, locale, zone, tags, attributes
    POST   /subscribers/{ref}/unsubscribe  subscribers:write
    DELETE /subscribers/{ref}              subscribers:write   forget (GDPR)
    GET    /tags                           subscribers:read
    GET    /topics                         subscribers:read    the topics readers choose, named
    GET    /issues, /issues/{name}         sends:read          the content folder, with check's findings
    GET    /sends, /sends/{issue}          sends:read          deliveries by state, failures, report
    POST   /sends                          sends:write         start one (Idempotency-Key required)
    POST   /sends/{issue}/test             sends:write         test-send to up to 10 addresses
    POST   /sends/{issue}/pause, /resume   sends:write         workers stop claiming, or go on
    GET    /schedules                      sends:read          with next times and last firings
    POST   /schedules                      schedules:write     one issue at a time, or weekly
    POST   /schedules/{id}/pause, /resume  schedules:write
    DELETE /schedules/{id}                 schedules:write     cancel
    GET    /openapi.json, /docs            anyone: the OpenAPI document, and a page made of it
    *      any other path                  anyone: 404, a problem document (not the archive)

Every other route needs a key (web/api/auth.py); failures are problem documents
(web/api/problems.py); request bodies over MAX_BODY bytes are refused (413).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from newsletter.web.api import docs, schedules, sends, subscribers
from newsletter.web.api.problems import Refused

PREFIX = "/api/v1"
MAX_BODY = 4 * 1024 * 1024
"""Bytes a request body may have (10,000 subscribers to import fit in well under half)."""

router = APIRouter(prefix=PREFIX)


async def _no_route(request: Request) -> None:
    """Any other path under /api/v1: a problem document, not the archive's page for people."""
    raise Refused(404, f"no route {request.url.path}", "see /api/v1/docs for the routes")


router.include_router(subscribers.router)
router.include_router(schedules.router)
router.include_router(sends.router)
router.include_router(docs.router)
# Last: what no route above takes (a path with %2F in a name, a typo) is answered here.
router.add_api_route(
    "/{anything:path}", _no_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)  # fmt: skip
