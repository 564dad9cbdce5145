"""When the mail server or the database fails, visitors get a page that says so in their
language (503), never a traceback; /healthz says unhealthy without telling how or where."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.transports import open_transport
from newsletter.subscribers.models import ConsentEvent, Subscriber
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_confirmations import START, _csrf, _project
from .test_service import free_port

VICTIM = "reader@example.org"


def _subscribe(client: TestClient, email: str = VICTIM, locale: str = "de") -> tuple[int, str]:
    csrf = _csrf(client.get(f"/subscribe?lang={locale}").text)
    answer = client.post("/subscribe", data={"email": email, "csrf": csrf, "locale": locale})
    return answer.status_code, answer.text


def _kinds(project: Project) -> list[tuple[str, str]]:
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        people = {s.id: s.status for s in session.exec(select(Subscriber))}
        kinds = [(people[e.subscriber_id], e.kind) for e in session.exec(select(ConsentEvent))]
    engine.dispose()
    return kinds


@pytest.mark.parametrize(
    "reply", ["550 5.1.1 no such mailbox", "451 4.3.0 try again later", "554 5.7.1 rejected"]
)
def test_a_mail_server_that_refuses_the_confirmation_gets_a_page(
    tmp_path: Path, smtp_server: SmtpServer, reply: str
) -> None:
    project = _project(tmp_path, smtp_server)
    smtp_server.recorder.replies[VICTIM] = reply
    client = TestClient(create_app(project, clock=lambda: START), raise_server_exceptions=False)
    status, page = _subscribe(client)
    assert status == 503
    assert '<html lang="de"' in page and "Bestätigungs" in page, page
    assert "Traceback" not in page and reply not in page
    # The pending subscriber is kept; the email that did not go out does not count.
    assert _kinds(project) == [("pending", "subscribe")]
    del smtp_server.recorder.replies[VICTIM]
    assert _subscribe(client)[0] == 200
    assert len(smtp_server.received) == 1


def test_a_mail_server_that_is_down_gets_a_page(tmp_path: Path, smtp_server: SmtpServer) -> None:
    project = _project(tmp_path, smtp_server)
    closed = f"smtp://127.0.0.1:{free_port()}"
    app = create_app(
        project, clock=lambda: START, transport=lambda: open_transport(closed, {}, project.root)
    )
    status, page = _subscribe(TestClient(app, raise_server_exceptions=False))
    assert status == 503 and '<html lang="de"' in page and "Bestätigungs" in page
    assert _kinds(project) == [("pending", "subscribe")]


def test_a_database_that_went_away_gets_a_page(tmp_path: Path, smtp_server: SmtpServer) -> None:
    project = _project(tmp_path, smtp_server)
    engine = create_db_engine(database_url(project))
    client = TestClient(
        create_app(project, engine=engine),
        raise_server_exceptions=False,
        headers={"Accept-Language": "de-DE,de;q=0.9"},  # The page is in the browser's language.
    )
    assert client.get("/healthz").json() == {"status": "ok"}
    csrf = _csrf(client.get("/subscribe?lang=de").text)
    database = tmp_path / "subscribers.db"
    database.replace(tmp_path / "elsewhere.db")
    database.mkdir()  # A folder where the file was: SQLite cannot open it.
    engine.dispose()
    answer = client.post("/subscribe", data={"email": VICTIM, "csrf": csrf, "locale": "de"})
    assert answer.status_code == 503
    assert '<html lang="de"' in answer.text and "Dienst" in answer.text
    assert "Traceback" not in answer.text
    assert "subscribers.db" not in answer.text and "sqlite" not in answer.text
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (503, {"status": "unhealthy"})
    token_page = client.get("/unsubscribe/1.abc.def")
    assert token_page.status_code in (400, 503) and "Traceback" not in token_page.text
