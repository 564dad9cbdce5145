"""What valid provider webhooks do to subscribers, through the running app and the inbound
processor (newsletter/inbound/processor.py), on a real SQLite file with a sent delivery.

A hard bounce suppresses the subscriber of that delivery; a complaint unsubscribes them; the
same event posted again changes nothing; an event that matches none of our deliveries changes
no one.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import Delivery, Mailing
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber
from newsletter.web.app import create_app

from .test_webhooks import (
    NOW,
    database_dump,
    fixture,
    make_project,
    postmark_auth,
    sendgrid_headers,
    signed_mailgun,
    signed_sns,
)

UID = "9f2c4e6a8b0d1f3e"
READER = "alice@example.com"
BYSTANDER = "bob@example.com"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


@pytest.fixture
def client(project: Project) -> TestClient:
    return TestClient(create_app(project, clock=lambda: NOW))


@pytest.fixture
def our_message_id(project: Project) -> str:
    """The Message-ID of the issue sent to READER (BYSTANDER is subscribed and was sent it too)."""
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        mailing = Mailing(issue="2026-11-22", uid=UID)
        session.add(mailing)
        session.flush()
        ids = {}
        for email in (READER, BYSTANDER):
            profile = registry.make_profile(email, "", "en", None, [], ["en"], "en", "UTC")
            subscriber = registry.add(
                session, profile, status="active", method="test", source="test", now=NOW
            )
            session.flush()
            assert mailing.id is not None and subscriber.id is not None
            delivery = Delivery(
                mailing_id=mailing.id,
                subscriber_id=subscriber.id,
                locale="en",
                state="sent",
                attempts=1,
                sent_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
            )
            session.add(delivery)
            session.flush()
            delivery.message_id = f"<{UID}.{delivery.id}@news.example.org>"
            ids[email] = delivery.message_id
        session.commit()
    return ids[READER]


def status_of(project: Project, email: str) -> str:
    with Session(create_db_engine(database_url(project))) as session:
        subscriber = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
        return subscriber.status


def mailgun_event(name: str, message_id: str) -> dict[str, Any]:
    payload = copy.deepcopy(fixture(name))
    payload["event-data"]["recipient"] = READER
    payload["event-data"]["message"]["headers"]["message-id"] = message_id.strip("<>")
    return signed_mailgun(payload)


def test_a_mailgun_hard_bounce_suppresses_the_subscriber_of_that_delivery(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    payload = mailgun_event("mailgun-failed-permanent.json", our_message_id)
    answer = client.post("/webhooks/mailgun", content=json.dumps(payload))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"events": 1, "processed": 1, "duplicates": 0}
    assert status_of(project, READER) == "bounced"
    assert status_of(project, BYSTANDER) == "active"


def test_a_replayed_event_changes_nothing(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    payload = mailgun_event("mailgun-failed-temporary.json", our_message_id)
    assert client.post("/webhooks/mailgun", content=json.dumps(payload)).status_code == 200
    after_first = database_dump(project)
    # The same request again (within the signature's age), then the same event newly signed.
    again = client.post("/webhooks/mailgun", content=json.dumps(payload))
    resigned = client.post("/webhooks/mailgun", content=json.dumps(signed_mailgun(payload)))
    for answer in (again, resigned):
        assert answer.status_code == 200
        assert answer.json() == {"events": 1, "processed": 0, "duplicates": 1}
    assert database_dump(project) == after_first
    assert status_of(project, READER) == "active"  # A temporary failure is a delay.


def test_a_sendgrid_spam_report_unsubscribes_the_reader(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    events = [
        {**event, "email": READER, "smtp-id": our_message_id}
        for event in fixture("sendgrid-events.json")
        if event["event"] in ("delivered", "spamreport")
    ]
    body = json.dumps(events).encode()
    answer = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == 2
    assert status_of(project, READER) == "complained"
    assert status_of(project, BYSTANDER) == "active"


def test_a_postmark_bounce_of_an_address_we_never_mailed_changes_no_one(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    record = {**fixture("postmark-bounce.json"), "Email": "stranger@example.net"}
    answer = client.post("/webhooks/postmark", content=json.dumps(record), headers=postmark_auth())
    assert answer.status_code == 200, answer.text
    assert status_of(project, READER) == status_of(project, BYSTANDER) == "active"


def test_a_signed_event_naming_another_mailing_changes_no_one(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    forged_id = our_message_id.replace(UID, "0000000000000000")
    payload = mailgun_event("mailgun-failed-permanent.json", forged_id)
    payload["event-data"]["recipient"] = "stranger@example.net"
    answer = client.post("/webhooks/mailgun", content=json.dumps(signed_mailgun(payload)))
    assert answer.status_code == 200
    assert status_of(project, READER) == "active"


def test_an_ses_bounce_through_sns_suppresses_the_subscriber(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    envelope = fixture("ses-bounce.json")
    notification = json.loads(envelope["Message"])
    notification["bounce"]["bouncedRecipients"][0]["emailAddress"] = READER
    notification["mail"]["destination"] = [READER]
    notification["mail"]["commonHeaders"]["messageId"] = our_message_id
    for header in notification["mail"]["headers"]:
        if header["name"] == "Message-ID":
            header["value"] = our_message_id
    envelope["Message"] = json.dumps(notification)
    answer = client.post("/webhooks/ses", content=json.dumps(signed_sns(envelope)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == 1
    assert status_of(project, READER) == "bounced"
    assert status_of(project, BYSTANDER) == "active"


def test_a_reader_unsubscribing_through_the_providers_link_is_unsubscribed(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    # The provider's own unsubscribe link (Mailgun's %unsubscribe_url%): no token of ours, but
    # a signed event about our delivery.
    payload = mailgun_event("mailgun-unsubscribed.json", our_message_id)
    answer = client.post("/webhooks/mailgun", content=json.dumps(payload))
    assert answer.status_code == 200, answer.text
    assert status_of(project, READER) == "unsubscribed"
    assert status_of(project, BYSTANDER) == "active"


def test_a_mailgun_signature_does_not_sign_another_event(
    client: TestClient, project: Project, our_message_id: str
) -> None:
    # Mailgun signs only its timestamp and token, not the event: whoever sees one signed
    # request (a proxy's log) must not reuse its signature for an event of their own making.
    delivered = mailgun_event("mailgun-delivered.json", our_message_id)
    assert client.post("/webhooks/mailgun", content=json.dumps(delivered)).status_code == 200
    forged = copy.deepcopy(fixture("mailgun-complained.json"))
    forged["event-data"]["id"] = "attacker-made-1"
    forged["event-data"]["recipient"] = BYSTANDER
    forged["signature"] = delivered["signature"]
    answer = client.post("/webhooks/mailgun", content=json.dumps(forged))
    assert answer.status_code == 403, answer.text
    assert status_of(project, BYSTANDER) == "active"
    # The same request again (a retry) is still a duplicate, not refused.
    again = client.post("/webhooks/mailgun", content=json.dumps(delivered))
    assert again.json() == {"events": 1, "processed": 0, "duplicates": 1}
