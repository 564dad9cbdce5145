"""Confirmation bombing: one address gets few confirmation emails, however many posts ask, from
however many client addresses, processes and restarts; counted at a real SMTP server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.db_schema import upgrade
from newsletter.deliver.transports import open_transport
from newsletter.subscribers import registry
from newsletter.subscribers.models import ConsentEvent
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_postgres import cluster, database, engine_for  # noqa: F401  (fixtures)
from .test_service import free_port

SECRET = "test-secret-key-0123456789abcdef"
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
VICTIM = "victim@example.org"
NEWSLETTER = [sys.executable, "-m", "newsletter"]


def _project(root: Path, smtp_server: SmtpServer, url: str = "sqlite:///subscribers.db") -> Project:
    (root / "config").mkdir(exist_ok=True)
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\nlocales = ["en", "de"]\n'
        f'timezone = "Europe/Berlin"\ndatabase_url = "{url}"\n'
        f'transport_url = "{smtp_server.url}"\n',
        encoding="utf-8",
    )
    project = load_project(
        root / "config" / "newsletter.toml", environ={"NEWSLETTER_SECRET_KEY": SECRET}
    )
    engine = create_db_engine(database_url(project))
    upgrade(engine)
    engine.dispose()
    return project


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


class Visitors:
    """Posts to the subscribe form of one app, each post from a client address of its own."""

    def __init__(self, project: Project, clock: Callable[[], datetime], **options: object) -> None:
        self.app = create_app(project, clock=clock, **options)  # type: ignore[arg-type]
        self.posts = 0

    def post(self, email: str) -> tuple[int, str]:
        self.posts += 1
        client = TestClient(self.app, client=(f"203.0.113.{self.posts % 250}", 40000))
        csrf = _csrf(client.get("/subscribe").text)
        answer = client.post("/subscribe", data={"email": email, "csrf": csrf})
        return answer.status_code, answer.text


def _to(smtp_server: SmtpServer, address: str) -> int:
    return sum(address in received.recipients for received in smtp_server.received)


def test_twenty_posts_from_twenty_addresses_send_one_email(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    now = [START]
    project = _project(tmp_path, smtp_server)
    visitors = Visitors(project, lambda: now[0])
    answers = {visitors.post(VICTIM) for _ in range(20)}
    assert _to(smtp_server, VICTIM) == 1
    # Every answer is the same page: sent or not, the visitor learns nothing about the address.
    assert len(answers) == 1 and answers.pop()[0] == 200

    now[0] = START + timedelta(minutes=9, seconds=59)
    visitors.post(VICTIM)
    assert _to(smtp_server, VICTIM) == 1  # Not within ten minutes.
    for minutes in (10, 20, 30, 40, 50):
        now[0] = START + timedelta(minutes=minutes)
        visitors.post(VICTIM)
    assert _to(smtp_server, VICTIM) == 3  # At 0, 10 and 20 minutes; then three a day is it.

    # A restart (or another process): the count is in the database, not in the app.
    now[0] = START + timedelta(hours=23)
    assert Visitors(project, lambda: now[0]).post(VICTIM)[0] == 200
    assert _to(smtp_server, VICTIM) == 3
    now[0] = START + timedelta(days=1, minutes=1)  # The first of the three is a day old.
    Visitors(project, lambda: now[0]).post(VICTIM)
    assert _to(smtp_server, VICTIM) == 4
    with Session(create_db_engine(database_url(project))) as session:
        kinds = [event.kind for event in session.exec(select(ConsentEvent))]
    assert kinds == ["subscribe", *["confirmation-sent"] * 4]


def test_the_answer_never_tells_whether_an_email_went_out(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = _project(tmp_path, smtp_server)
    visitors = Visitors(project, lambda: START)
    first = visitors.post("new@example.org")  # Sent.
    again = visitors.post("new@example.org")  # Not sent: a minute ago.
    visitors.post("active@example.org")
    with Session(create_db_engine(database_url(project))) as session:
        subscriber = registry.find(session, "active@example.org")
        assert subscriber is not None
        registry.confirm(session, subscriber, source="test", now=START)
        session.commit()
    active = visitors.post("active@example.org")  # Subscribed already: nothing sent.
    assert first == again == active
    assert [r.recipients for r in smtp_server.received] == [
        ["new@example.org"],
        ["active@example.org"],
    ]


def test_an_email_that_could_not_be_sent_does_not_count(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = _project(tmp_path, smtp_server)
    closed = f"smtp://127.0.0.1:{free_port()}"
    broken = Visitors(
        project, lambda: START, transport=lambda: open_transport(closed, {}, project.root)
    )
    assert broken.post(VICTIM)[0] == 503
    assert Visitors(project, lambda: START).post(VICTIM)[0] == 200
    assert _to(smtp_server, VICTIM) == 1


# -- Real processes at the same moment ------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database two processes share: a SQLite file, or a real PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("database")
        engine_for(url)  # Disposed at the end of the test.
        yield url


def _serve(project: Project, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*NEWSLETTER, "--config", str(project.source), "serve", "--port", str(port)],
            env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
            cwd=project.root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> str:
    """The subscribe form of a server once it answers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/subscribe", timeout=10) as page:
                return str(page.read().decode())
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


def test_two_processes_at_the_same_moment_send_one_email(
    tmp_path: Path, smtp_server: SmtpServer, shared_url: str
) -> None:
    project = _project(tmp_path, smtp_server, shared_url)
    with project.source.open("a", encoding="utf-8") as config:
        config.write('trusted_proxies = ["127.0.0.1"]\n')
    ports = [free_port(), free_port()]
    servers = [_serve(project, port, tmp_path / f"serve-{port}.log") for port in ports]
    try:
        logs = [tmp_path / f"serve-{port}.log" for port in ports]
        pages = [_wait_for(*started) for started in zip(ports, servers, logs, strict=True)]
        csrf = _csrf(pages[0])  # Signed with the shared key: valid at both servers.

        def post(number: int) -> int:
            body = urllib.parse.urlencode({"email": VICTIM, "csrf": csrf}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{ports[number % 2]}/subscribe",
                data=body,
                # `serve` trusts the proxy header from 127.0.0.1 (trusted_proxies): twenty clients.
                headers={"X-Forwarded-For": f"198.51.100.{number}"},
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                return int(answer.status)

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(post, range(20)))
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
    assert statuses == [200] * 20
    assert _to(smtp_server, VICTIM) == 1
    engine: Engine = create_db_engine(shared_url)
    with Session(engine) as session:
        sent = session.exec(select(ConsentEvent).where(ConsentEvent.kind == "confirmation-sent"))
        assert len(sent.all()) == 1
    engine.dispose()


def test_spellings_of_one_mailbox_share_its_limit(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Domain case, +tags and a domain's Unicode or ASCII (A-label) form are one mailbox."""
    now = [START]
    project = _project(tmp_path, smtp_server)
    visitors = Visitors(project, lambda: now[0])
    spellings = [
        "victim@example.org",
        "Victim@Example.ORG",
        "victim+1@example.org",
        "victim+2@EXAMPLE.org",
        "VICTIM+news@example.org",
    ]
    for minute, email in enumerate(spellings):
        now[0] = START + timedelta(seconds=minute)
        assert visitors.post(email)[0] == 200
    assert len(smtp_server.received) == 1
    for minute, email in enumerate(["reader@bücher.example", "reader@xn--bcher-kva.example"]):
        now[0] = START + timedelta(minutes=1, seconds=minute)
        visitors.post(email)
        visitors.post(email.replace("reader@", "reader+x@"))
    assert len(smtp_server.received) == 2
    # Three a day per mailbox, whichever spelling asks each time.
    for step, email in enumerate(spellings * 2):
        now[0] = START + timedelta(minutes=10 * (step + 1))
        visitors.post(email)
    assert len(smtp_server.received) == 4
    with Session(create_db_engine(database_url(project))) as session:
        stored = sorted(s.email for s in session.exec(select(registry.Subscriber)))
    # What the reader wrote is kept (a +tag is an address of its own); one row per spelling of
    # one address: domain case and the domain's Unicode or A-label form are not new addresses.
    assert stored == [
        "VICTIM+news@example.org",
        "reader+x@bücher.example",
        "reader@bücher.example",
        "victim+1@example.org",
        "victim+2@example.org",
        "victim@example.org",
    ]


def test_one_address_is_one_row_however_its_domain_is_written(tmp_path: Path) -> None:
    from newsletter.subscribers.addresses import address_key, normalize_address

    keys = {
        normalize_address(a)[1]
        for a in (
            "a@bücher.example",
            "a@BÜCHER.example",
            "a@xn--bcher-kva.example",
            "a@XN--BCHER-KVA.EXAMPLE",
        )
    }
    assert len(keys) == 1
    assert address_key("a@xn--bcher-kva.example") == address_key("A@Bücher.Example")
    # An address suppressed under the A-label key releases before 0005 made stays suppressed.
    from newsletter.subscribers.addresses import address_hash, address_hashes

    assert address_hash("a@xn--bcher-kva.example") in address_hashes(
        address_key("a@bücher.example")
    )
