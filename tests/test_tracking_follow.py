"""Every URL of every sent text part, followed: two sample issues really sent through an SMTP
server on 127.0.0.1 to readers in four languages (quoted-printable and base64 parts both),
each message parsed with the email package, and each URL of its text part requested from the
web app: tracking links answer 302 to the link as the issue wrote it (and, with individual
tracking, count the click for that reader's own delivery), reader pages answer 200."""

from __future__ import annotations

import re
import shutil
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import dkim
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlmodel import Session

from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY
from newsletter.engagement.models import LINK_CLICK, TRACKED_LINK
from newsletter.subscribers.models import SUBSCRIBER
from newsletter.subscribers.tokens import Tokens
from newsletter.web.app import create_app
from newsletter.web.redirects import external_location

from .conftest import ROOT, SmtpServer
from .test_delivery import ISSUE, SECRET, make_project, newsletter
from .test_signing import key_pair

OTHER = "2024-05-07-this-month-in-ai"  # en and ar; ISSUE has en and zh.
BASE = "https://news.example.org"
_URL = re.compile(r"https?://\S+")


@pytest.mark.parametrize(
    ("tracking", "signed"), [("aggregate", False), ("individual", False), ("individual", True)]
)
def test_every_url_of_every_text_part_leads_where_the_issue_said(
    tmp_path: Path, smtp_server: SmtpServer, tracking: str, signed: bool
) -> None:
    """Signed too: the DKIM signature goes in front of a message composed ahead, and every
    message must still be its reader's own, verify, and parse."""
    project = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", tracking=f'"{tracking}"', click_limit="0",
        dkim_selector='"nl2026"' if signed else '""',
    )  # fmt: skip  # Every request comes from the test client's one address.
    shutil.copytree(ROOT / "issues" / OTHER, project.issues_path / OTHER)
    private, lookup = key_pair("rsa") if signed else ("", None)
    for issue in (ISSUE, OTHER):
        code, output = newsletter(
            project, "send", issue, env={"NEWSLETTER_DKIM_PRIVATE_KEY": private}
        )
        assert code == 0, output
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        stored = dict(connection.execute(select(TRACKED_LINK.c.id, TRACKED_LINK.c.url)).all())
        delivery_of = {
            (email, mailing): delivery
            for email, mailing, delivery in connection.execute(
                select(SUBSCRIBER.c.email, DELIVERY.c.mailing_id, DELIVERY.c.id).join(
                    DELIVERY, DELIVERY.c.subscriber_id == SUBSCRIBER.c.id
                )
            )
        }
    encodings: set[str] = set()  # Of text parts with tracking links: merged both ways.
    with_links = 0  # Messages whose text part links anything (ISSUE's stories link nothing).
    followed: list[tuple[int, int]] = []  # (link, the delivery its reader got)
    personal = 0  # Unsubscribe and preferences links followed.
    with TestClient(create_app(project), base_url=BASE) as client:
        for received in smtp_server.received:
            assert received.data.startswith(b"DKIM-Signature: ") == signed
            assert not signed or dkim.verify(received.data, dnsfunc=lookup)
            message = message_from_bytes(received.data, policy=policy.default)
            assert isinstance(message, EmailMessage)
            reader = received.recipients[0]
            # Each message is its envelope recipient's own (workers compose the next message
            # while the server handles the current one): the To header and every personal
            # link name that reader.
            assert [a.addr_spec for a in message["To"].addresses] == [reader]
            text = message.get_body(("plain",))
            assert text is not None
            urls = _URL.findall(text.get_content())
            if any("/l/" in url for url in urls):
                with_links += 1
                encodings.add(str(text["Content-Transfer-Encoding"]))
            for url in urls:
                path = urlsplit(url).path
                answer = client.get(url, follow_redirects=False)
                if path.startswith("/l/"):
                    link = int(path.split("/")[2].split("-")[0])
                    assert answer.status_code == 302, (reader, url, answer.text)
                    location = answer.headers["location"]
                    assert location == external_location(stored[link])
                    assert location == stored[link] or not stored[link].isascii()
                    mailing = _mailing_of(engine, link)
                    followed.append((link, delivery_of[(reader, mailing)]))
                elif path.startswith(("/unsubscribe/", "/preferences/")):
                    assert answer.status_code == 200, (reader, url)
                    purpose, token = path.strip("/").split("/")
                    with Session(engine) as session:
                        owner = Tokens(SECRET).subscriber(session, purpose, token)
                    assert owner.email == reader, (reader, url)
                    personal += 1
    assert {"quoted-printable", "base64"} <= encodings, encodings
    assert personal >= 2 * len(smtp_server.received)  # Both links, in every message.
    assert with_links == 4  # OTHER's message to each of the four readers.
    with engine.connect() as connection:
        clicks = sorted(connection.execute(select(LINK_CLICK.c.link_id, LINK_CLICK.c.delivery_id)))
    engine.dispose()
    if tracking == "individual":
        assert clicks == sorted(followed)  # Each click is its own reader's, decoded intact.
    else:
        assert clicks == sorted((link, None) for link, _ in followed)


def _mailing_of(engine, link: int) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        query = select(TRACKED_LINK.c.mailing_id).where(TRACKED_LINK.c.id == link)
        return int(connection.execute(query).scalar_one())


def test_every_url_of_a_sequence_steps_text_part_opens_in_each_language(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A welcome step (no web version, a subscriber field, a tracked link) as each reader gets
    it: parsed with the email package, quoted-printable and base64, every URL followed."""
    from newsletter.db import utcnow
    from newsletter.deliver.sending import deliver
    from newsletter.deliver.worker import Job
    from newsletter.sequences.queue import queue_due_steps
    from newsletter.sequences.status import step_mailing_named

    from .sequence_files import write_sequence

    project = make_project(tmp_path, f"{smtp_server.url}?connections=1", click_limit="0")
    body = 'Hello {{ subscriber.first_name | default("there") }}, read [the guide](https://example.com/guide?a=1&b=%C3%BC).\n'
    arabic = 'مرحبا {{ subscriber.first_name | default("صديقي") }}، اقرأ [الدليل](https://example.com/دليل).\n'
    write_sequence(
        project.root,
        {
            "01-welcome.md": f"---\ntitle: Welcome\nafter: 0 days\n---\n{body}",
            "01-welcome.ar.md": f"---\ntitle: أهلا\n---\n{arabic}",
        },
    )
    engine = create_db_engine(database_url(project))
    with engine.begin() as connection:  # The readers confirmed after the sequence appeared.
        connection.execute(SUBSCRIBER.update().values(confirmed_at=utcnow()))
    queue_due_steps(project, engine, utcnow())
    mailing = step_mailing_named(engine, "sequence:welcome/01-welcome")
    deliver(Job.of(project, mailing.id or 0, mailing.uid), stop=lambda: False)
    assert len(smtp_server.received) == 4
    encodings: set[str] = set()
    with TestClient(create_app(project), base_url=BASE) as client:
        for received in smtp_server.received:
            message = message_from_bytes(received.data, policy=policy.default)
            assert isinstance(message, EmailMessage)
            assert [a.addr_spec for a in message["To"].addresses] == received.recipients
            text = message.get_body(("plain",))
            assert text is not None
            encodings.add(str(text["Content-Transfer-Encoding"]))
            content = text.get_content()
            assert "%%nl_" not in content and "{{" not in content
            greeting = {"ada@example.org": "Hello Ada,", "noor@example.org": "مرحبا نور،"}
            assert greeting.get(received.recipients[0], "") in content  # The field, filled.
            urls = _URL.findall(content)
            assert not any("/web/" in url for url in urls)  # A step has no web version.
            paths = {urlsplit(url).path.split("/")[1] for url in urls}
            assert paths == {"l", "unsubscribe", "preferences"}, urls
            for url in urls:
                answer = client.get(url, follow_redirects=False)
                if urlsplit(url).path.startswith("/l/"):
                    assert answer.status_code == 302, (url, answer.text)
                    assert answer.headers["location"].startswith("https://example.com/")
                else:
                    assert answer.status_code == 200, url
    engine.dispose()
    assert {"quoted-printable", "base64"} <= encodings, encodings
