"""Every route of the web app, enumerated: each is public by design (the pages any visitor or
reader may open, a signed token in the link where it acts on someone), or requires proof of
who is asking (a signature, an API key, a dashboard session). A route added without being listed here fails this test until someone decides
which it is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from newsletter.web.app import create_app

from .test_api import API
from .test_api import SCOPES as API_SCOPES
from .test_webhooks import NOW, database_dump, make_project

# Open to anyone; those with a {token} act only on the subscriber the signed token names.
PUBLIC = {
    ("GET", "/subscribe"), ("POST", "/subscribe"),
    ("GET", "/confirm/{token}"), ("POST", "/confirm/{token}"),
    ("GET", "/unsubscribe/{token}"), ("POST", "/unsubscribe/{token}"),
    ("GET", "/preferences/{token}"), ("POST", "/preferences/{token}"),
    ("GET", "/healthz"),
    # The tracking links and open pixels of sent issues: any reader's email client or browser
    # follows them, with no proof of who it is. Their ids are signed (nobody can make one up,
    # so they redirect only to links we sent), they only count, and a client over its
    # `click_limit` gets 429.
    *{(method, path) for method in ("GET", "HEAD") for path in (
        "/l/{link}", "/l/{link}/{delivery}", "/o/{edition}", "/o/{edition}/{delivery}"
    )},
}  # fmt: skip
# The API's description of itself: what its routes are, nothing about anyone.
PUBLIC |= {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs")}
# What no API route takes: it only answers 404 as a problem document, touching nothing.
PUBLIC |= {(m, "/api/v1/{anything:path}") for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
# The JSON API: every request must carry an API key with the route's scope (tests/test_api.py
# tries each with no key, a made-up one, another scheme and a key without the scope).
KEYED = {(method, API + path) for method, path in API_SCOPES}
# The dashboard's login form: anyone may try (failures limited per address and per name, a
# CSRF token needed; tests/test_admin.py).
PUBLIC |= {("GET", "/admin/login"), ("POST", "/admin/login")}
# The dashboard: every request must come with the session cookie of a logged-in user whose role
# allows the route (and a POST with the session's CSRF token; tests/test_admin.py).
ADMIN = {
    ("GET", "/admin/"),
    ("GET", "/admin/subscribers"), ("GET", "/admin/subscribers/{subscriber_id}"),
    ("POST", "/admin/logout"), ("POST", "/admin/subscribers/{subscriber_id}/unsubscribe"),
    ("POST", "/admin/subscribers/{subscriber_id}/edit"),
    ("POST", "/admin/subscribers/{subscriber_id}/forget"),
    ("GET", "/admin/issues"), ("GET", "/admin/issues/{slug}"), ("POST", "/admin/issues/{slug}/test"),
    ("GET", "/admin/schedules"), ("POST", "/admin/schedules/{schedule_id}/{change}"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/issues/{slug}/send"), ("POST", "/admin/issues/{slug}/send"),  # admin
    ("GET", "/admin/sends"), ("GET", "/admin/sends/{mailing_id}"),  # viewer
    ("GET", "/admin/sends/{mailing_id}/progress"), ("GET", "/admin/static/progress.js"),  # viewer
    ("POST", "/admin/sends/{mailing_id}/{change}"),  # admin: pause, resume
}  # fmt: skip
# Only for the mail providers: each request must carry the provider's signature or password.
SIGNED = {("POST", f"/webhooks/{name}") for name in ("ses", "postmark", "mailgun", "sendgrid")}


def routes_of(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route, those of included routers (and their prefixes) too."""
    found = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found |= {(method, prefix + route.path) for method in route.methods}
        elif isinstance(route, Route):  # Starlette's own (the tracking links: web/clicks.py).
            found |= {(method, prefix + route.path) for method in route.methods or ()}
        elif isinstance(route, Mount):
            assert route.name == "archive", f"an unexpected mount: {route.path}"
        elif hasattr(route, "original_router"):  # An included router (FastAPI >= 0.165).
            inner = prefix + route.include_context.prefix
            found |= routes_of(route.original_router.routes, inner)
        else:
            raise AssertionError(f"a route of an unknown kind: {route!r}")
    return found


def test_every_route_is_public_by_design_or_signed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    app = create_app(make_project(tmp_path_factory.mktemp("all")))
    assert routes_of(app.routes) == PUBLIC | SIGNED | KEYED | ADMIN


@pytest.mark.parametrize(("method", "path"), sorted(SIGNED))
def test_a_signed_route_refuses_an_unsigned_request_and_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, method: str, path: str
) -> None:
    project = make_project(tmp_path_factory.mktemp("signed"))
    client = TestClient(create_app(project, clock=lambda: NOW))
    before = database_dump(project)
    body = json.dumps({"Type": "Notification", "RecordType": "Bounce", "event-data": {}})
    answer = client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 403, answer.text
    assert database_dump(project) == before


@pytest.mark.parametrize(("method", "path"), sorted(ADMIN))
def test_a_dashboard_route_without_a_session_goes_to_the_login_form_or_is_refused(
    tmp_path_factory: pytest.TempPathFactory, method: str, path: str
) -> None:
    project = make_project(tmp_path_factory.mktemp("admin"))
    client = TestClient(create_app(project, clock=lambda: NOW), base_url="https://news.example.org")
    client.cookies.set("nl_admin", "made-up", domain="news.example.org", path="/admin")
    before = database_dump(project)
    answer = client.request(
        method,
        path.replace("{subscriber_id}", "1").replace("{slug}", "x").replace("{schedule_id}", "x")
        .replace("{change}", "pause").replace("{mailing_id}", "1"),
        data={"csrf": "0" * 64, "address": "a@example.org", "once": "0" * 32},
        follow_redirects=False,
    )  # fmt: skip
    if method == "GET":
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/login?next=/admin/")
    else:
        assert answer.status_code in (401, 403)
    assert database_dump(project) == before
