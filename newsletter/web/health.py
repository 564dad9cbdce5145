"""`GET /healthz`: the database answers and its schema is current (else 503)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from newsletter.db_schema import require_current
from newsletter.web.site import Site, current_site

log = logging.getLogger(__name__)
router = APIRouter()


@router.get("/healthz")
def healthz(site: Site = Depends(current_site)) -> JSONResponse:
    """{"status": "ok"}, or 503 {"status": "unhealthy"}; only the log says why (the answer is
    public, and the cause names the database)."""
    try:
        with site.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        require_current(site.engine)
    except Exception as error:  # The health check reports any failure; it never raises.
        log.error("health check failed: %s", error)
        return JSONResponse({"status": "unhealthy"}, status_code=503)
    return JSONResponse({"status": "ok"})
