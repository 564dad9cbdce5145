"""Every router answers a failure the same way: people get a page in their language, programs
(webhooks, the API) an RFC 9457 problem document with the message and fix the CLI prints; the
database's failure is 503 for both and says nothing about how or where."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from newsletter.errors import ConfigError, NewsletterError, NotFoundError
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_confirmations import _project

FAILURES: dict[str, Exception] = {
    "not-found": NotFoundError("no issue 'x'", hint="run `newsletter list`"),
    "bad-input": NewsletterError("email: not an address", hint="give name@example.org"),
    "config": ConfigError("secret key missing at sqlite:///secret-path.db", hint="set it"),
    "database": OperationalError("SELECT", {}, Exception("disk I/O at /srv/secret-path.db")),
}


@pytest.fixture
def client(tmp_path: Path, smtp_server: SmtpServer) -> TestClient:
    app = create_app(_project(tmp_path, smtp_server))
    for prefix in ("/api/v1/fail", "/webhooks/fail", "/page/fail"):

        def fail(kind: str) -> None:
            raise FAILURES[kind]

        app.router.add_api_route(prefix + "/{kind}", fail)
        # First: added after the app's own routes, it would never be reached (the archive
        # mount and the API's 404 for paths no route takes match any path).
        app.router.routes.insert(0, app.router.routes.pop())
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("kind", "status"), [("not-found", 404), ("bad-input", 400), ("config", 503), ("database", 503)]
)
@pytest.mark.parametrize("prefix", ["/api/v1/fail", "/webhooks/fail"])
def test_programs_get_a_problem_document(
    client: TestClient, prefix: str, kind: str, status: int
) -> None:
    answer = client.get(f"{prefix}/{kind}")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["type"] == "about:blank"
    if status == 503:  # The cause names paths and URLs: only the log may say it.
        assert "secret-path" not in answer.text
        assert problem["title"] == "The service is unavailable"
    else:
        error = FAILURES[kind]
        assert isinstance(error, NewsletterError)
        assert (problem["title"], problem["detail"]) == (error.message, error.hint)


@pytest.mark.parametrize(
    ("kind", "status", "heading"),
    [
        ("not-found", 404, "Seite nicht gefunden"),
        ("bad-input", 503, "nicht erreichbar"),
        ("config", 503, "nicht erreichbar"),
        ("database", 503, "nicht erreichbar"),
    ],
)
def test_people_get_a_page_in_their_language(
    client: TestClient, kind: str, status: int, heading: str
) -> None:
    answer = client.get(f"/page/fail/{kind}", headers={"accept-language": "de"})
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="de"' in answer.text and heading in answer.text, answer.text
    assert "secret-path" not in answer.text and "Traceback" not in answer.text
    # A program asking for JSON on any path gets JSON.
    asked = client.get(f"/page/fail/{kind}", headers={"accept": "application/json"})
    assert asked.headers["content-type"] == "application/problem+json"
