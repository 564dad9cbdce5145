"""The API's OpenAPI document, and a page made of it: no script, nothing from a CDN."""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "patch", "put", "delete")


def openapi_document(request: Request) -> dict[str, Any]:
    """The OpenAPI document of /api/v1, made once per app."""
    state = request.app.state
    document: dict[str, Any] | None = getattr(state, "api_openapi", None)
    if document is None:
        from newsletter.web.api import router as api

        name = state.site.project.config.name
        document = state.api_openapi = get_openapi(
            title=f"{name} API",
            version="1",
            description="The newsletter's subscribers, sends and schedules (docs/api.md). "
            "Send an API key as `Authorization: Bearer KEY`; errors are RFC 9457 problem "
            "documents.",
            routes=api.routes,
        )
    return document


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    """The OpenAPI 3 document."""
    return JSONResponse(openapi_document(request))


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    """Every operation: method, path, scope, parameters and body, from the OpenAPI document."""
    document = openapi_document(request)
    sections = []
    for path, operations in document.get("paths", {}).items():
        for method in METHODS:
            operation = operations.get(method)
            if operation is not None:
                sections.append(_operation(method, path, operation))
    title = html.escape(document["info"]["title"])
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{title}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>{title}</h1><p>{html.escape(document['info'].get('description', ''))}</p>"
        '<p><a href="openapi.json">openapi.json</a></p>'
        + "".join(sections)
        + "</main></body></html>"
    )
    return HTMLResponse(page)


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{html.escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td>"
        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", [])
    )
    table = (
        "<table><thead><tr><th>parameter</th><th>in</th><th>required</th><th>about</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
        if rows
        else ""
    )
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {}).get("$ref", "").rpartition("/")[2]
    said = html.escape(operation.get("description", ""))
    return (
        f'<section><h2><span class="method">{method.upper()}</span> '
        f"<code>{html.escape(path)}</code></h2>"
        f"<p><strong>{html.escape(operation.get('summary', ''))}</strong>. {said}</p>"
        + (f"<p>Body: <code>{html.escape(schema)}</code> (see openapi.json)</p>" if schema else "")
        + table
        + "</section>"
    )


STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1f2328;background:#fff}"
    "main{max-width:56rem;margin:0 auto;padding:1rem}"
    "code{font-family:ui-monospace,monospace}table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:start}"
    "section{border-top:1px solid #d0d7de;padding-top:.5rem}"
    ".method{font-family:ui-monospace,monospace;background:#0a58ca;color:#fff;padding:0 .4rem}"
    "a{color:#0a58ca}"
    "@media (prefers-color-scheme: dark){body{color:#e6edf3;background:#0d1117}"
    "th,td,section{border-color:#30363d}a{color:#6cb6ff}.method{background:#1f6feb}}"
)
