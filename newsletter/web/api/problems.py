"""The API's answers to failures: RFC 9457 problem documents, never a traceback.

Refused                  401, 403, 409, 413, 429 with the message and fix the CLI would give
RequestValidationError   422, each field that is wrong with why (`errors`)
HTTPException            an unknown path (404) or method (405) under /api/
NewsletterError          the web app's handler (web/errors.py): 400, 404, 503
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from newsletter.web.errors import problem

API_PREFIX = "/api/"


class Refused(Exception):
    """A request the API will not carry out: its status, what is wrong, and the fix."""

    def __init__(
        self, status: int, message: str, hint: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.headers = status, message, hint, headers or {}


def install_api_handlers(app: FastAPI) -> None:
    """Answer the API's failures as problem documents (other paths keep their answers)."""
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]


async def _refused(request: Request, error: Refused) -> Response:
    answer = problem(error.status, error.message, error.hint)
    answer.headers.update(error.headers)
    return answer


async def _invalid(request: Request, error: RequestValidationError) -> Response:
    if not request.url.path.startswith(API_PREFIX):
        return await request_validation_exception_handler(request, error)
    errors = [
        {
            "field": ".".join(str(part) for part in item.get("loc", ()) if part != "body"),
            "message": str(item.get("msg", "")),
        }
        for item in error.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    title = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return problem(422, title, "correct the fields listed in errors", errors=errors)


async def _http(request: Request, error: HTTPException) -> Response:
    if not request.url.path.startswith(API_PREFIX):
        return await http_exception_handler(request, error)
    hint = "see /api/v1/docs for the routes" if error.status_code in (404, 405) else ""
    answer = problem(error.status_code, str(error.detail), hint)
    answer.headers.update(error.headers or {})
    return answer
