"""Postmark, Mailgun and SendGrid webhooks: their documented payloads (tests/fixtures/webhooks/)
as notices, their signatures or credentials checked through the running app."""

from __future__ import annotations

import base64
import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from newsletter.config import Project
from newsletter.inbound.notices import Kind
from newsletter.inbound.providers import mailgun, postmark, sendgrid
from newsletter.inbound.providers.events import Rejected
from newsletter.web.app import create_app

from .test_webhooks import (
    MAILGUN_KEY,
    NOW,
    POSTMARK_SECRET,
    SENDGRID_PUBLIC,
    SNS_KEY,
    database_dump,
    fixture,
    make_project,
    postmark_auth,
    sendgrid_headers,
    signed_mailgun,
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


@pytest.fixture
def client(project: Project) -> TestClient:
    return TestClient(create_app(project, clock=lambda: NOW))


# --- Postmark ---


def test_postmark_records_become_notices() -> None:
    (bounce,) = postmark.readings(fixture("postmark-bounce.json"))
    assert bounce.notices[0].kind == Kind.HARD
    assert bounce.notices[0].recipient == "john@example.com"
    assert bounce.notices[0].message_id == ""  # Postmark's MessageID is its own, not ours.
    (complaint,) = postmark.readings(fixture("postmark-spam-complaint.json"))
    assert complaint.notices[0].kind == Kind.COMPLAINT
    (delivery,) = postmark.readings(fixture("postmark-delivery.json"))
    assert delivery.notices[0].kind == Kind.DELIVERED
    # A suppression after a hard bounce: the Bounce webhook reported it already.
    (change,) = postmark.readings(fixture("postmark-subscription-change.json"))
    assert change.notices == () and change.details["reason"] == "HardBounce"
    assert postmark.readings({"RecordType": "Open", "Recipient": "john@example.com"}) == []


@pytest.mark.parametrize(
    ("code", "kind"),
    [(1, Kind.HARD), (2, Kind.DELAY), (64, Kind.AUTOREPLY), (4096, Kind.SOFT),
     (100000, Kind.HARD), (100006, Kind.POLICY), (100009, Kind.POLICY), (2048, Kind.UNKNOWN),
     (7, Kind.UNKNOWN)],
)  # fmt: skip
def test_postmark_bounce_type_codes(code: int, kind: Kind) -> None:
    record = {**fixture("postmark-bounce.json"), "TypeCode": code}
    assert postmark.readings(record)[0].notices[0].kind == kind


def test_a_reader_unsubscribing_through_postmark_is_an_unsubscribe() -> None:
    record = {
        **fixture("postmark-subscription-change.json"),
        "SuppressionReason": "ManualSuppression",
        "Metadata": {"message_id": "<mailinguid.42@news.example.org>"},
    }
    (reading,) = postmark.readings(record)
    assert reading.notices[0].kind == Kind.UNSUBSCRIBE
    assert reading.notices[0].message_id == "<mailinguid.42@news.example.org>"


def test_our_message_id_is_found_in_a_postmark_bounce_dump() -> None:
    record = {
        **fixture("postmark-bounce.json"),
        "Content": "Return-Path: <>\r\nMessage-ID: <abc123.7@news.example.org>\r\nSubject: x\r\n",
    }
    assert postmark.readings(record)[0].notices[0].message_id == "<abc123.7@news.example.org>"


def test_postmark_credentials(client: TestClient, project: Project) -> None:
    before = database_dump(project)
    body = json.dumps(fixture("postmark-bounce.json"))
    for headers in ({}, postmark_auth("wrong"), {"Authorization": "Bearer " + POSTMARK_SECRET},
                    {"Authorization": "Basic %%%"}):  # fmt: skip
        answer = client.post("/webhooks/postmark", content=body, headers=headers)
        assert answer.status_code == 403, headers
    answer = client.post("/webhooks/postmark", content=b"\xff\xfe", headers=postmark_auth())
    assert answer.status_code == 400
    assert database_dump(project) == before
    postmark.verify(postmark_auth()["Authorization"], POSTMARK_SECRET)


# --- Mailgun ---


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("mailgun-failed-permanent.json", Kind.HARD, "5.1.1"),
        ("mailgun-failed-suppressed.json", Kind.HARD, ""),
        ("mailgun-failed-temporary.json", Kind.DELAY, "4.2.2"),
        ("mailgun-complained.json", Kind.COMPLAINT, ""),
        ("mailgun-unsubscribed.json", Kind.UNSUBSCRIBE, ""),
        ("mailgun-delivered.json", Kind.DELIVERED, ""),
    ],
)
def test_mailgun_events_become_notices(name: str, kind: Kind, status: str) -> None:
    (reading,) = mailgun.readings(fixture(name))
    (notice,) = reading.notices
    assert (notice.kind, notice.status) == (kind, status)
    assert notice.recipient == "alice@example.com"
    assert notice.message_id == "<20130503192659.13651.20287@sample.mailgun.org>"
    assert reading.source == "webhook:mailgun"


def test_a_mailgun_mailbox_full_is_soft_and_a_policy_block_is_policy() -> None:
    payload = fixture("mailgun-failed-permanent.json")
    status = payload["event-data"]["delivery-status"]
    status.update({"enhanced-code": "5.2.2", "message": "5.2.2 mailbox full"})
    assert mailgun.readings(payload)[0].notices[0].kind == Kind.SOFT
    status.update({"enhanced-code": "", "message": "5.7.26 Unauthenticated email (DMARC)"})
    assert mailgun.readings(payload)[0].notices[0].kind == Kind.POLICY


def test_mailgun_signatures() -> None:
    payload = signed_mailgun(fixture("mailgun-failed-permanent.json"))
    mailgun.verify(payload, MAILGUN_KEY, now=NOW)
    with pytest.raises(Rejected, match="bad signature"):
        mailgun.verify(payload, "another-key", now=NOW)
    with pytest.raises(Rejected, match="timestamp"):
        mailgun.verify(payload, MAILGUN_KEY, now=NOW + timedelta(minutes=6))
    # The documented example, signed with Mailgun's own key years ago.
    with pytest.raises(Rejected):
        mailgun.verify(fixture("mailgun-failed-permanent.json"), MAILGUN_KEY, now=NOW)


def test_mailgun_refusals_through_the_app_change_nothing(
    client: TestClient, project: Project
) -> None:
    before = database_dump(project)
    good = signed_mailgun(fixture("mailgun-failed-permanent.json"))
    tampered = copy.deepcopy(good)
    tampered["event-data"]["recipient"] = "someone-else@example.com"
    tampered["signature"]["timestamp"] = str(int(NOW.timestamp()) + 1)
    replayed = signed_mailgun(fixture("mailgun-failed-permanent.json"), at=NOW - timedelta(hours=2))
    missing = {"event-data": good["event-data"]}
    for payload in (tampered, replayed, missing, [1, 2]):
        answer = client.post("/webhooks/mailgun", content=json.dumps(payload))
        assert answer.status_code == 403, payload
        # A problem document with a fixed reason: nothing of the request is echoed.
        assert answer.headers["content-type"] == "application/problem+json"
        assert set(answer.json()) == {"type", "title", "status"}
    assert client.post("/webhooks/mailgun", content=b'{"signature":').status_code == 400
    assert client.post("/webhooks/mailgun", content=b"[" * 100_000).status_code == 400
    assert database_dump(project) == before


# --- SendGrid ---


def test_sendgrid_events_become_notices() -> None:
    found = sendgrid.readings(fixture("sendgrid-events.json"))
    kinds = [(r.details["type"], r.notices[0].kind, r.notices[0].status) for r in found]
    assert kinds == [
        ("deferred", Kind.DELAY, ""),
        ("delivered", Kind.DELIVERED, ""),
        ("bounce", Kind.HARD, "5.0.0"),
        ("bounce", Kind.POLICY, "5.7.1"),
        ("dropped", Kind.POLICY, "5.0.0"),
        ("spamreport", Kind.COMPLAINT, ""),
        ("unsubscribe", Kind.UNSUBSCRIBE, ""),
        ("group_unsubscribe", Kind.UNSUBSCRIBE, ""),
    ]  # processed, open and click say nothing about a subscription.
    assert {r.notices[0].message_id for r in found} == {"<14c5d75ce93.dfd.64b469@ismtpd-555>"}
    assert len({r.digest for r in found}) == len(found)


def test_a_generic_sendgrid_status_takes_the_code_in_the_reply() -> None:
    event = {**fixture("sendgrid-events.json")[5], "reason": "550 5.1.1 <x@test.com>: no such user"}
    (reading,) = sendgrid.readings([event])
    assert (reading.notices[0].kind, reading.notices[0].status) == (Kind.HARD, "5.1.1")
    event["reason"] = "552 5.2.2 mailbox full"
    assert sendgrid.readings([event])[0].notices[0].kind == Kind.SOFT


def test_sendgrid_signatures() -> None:
    body = json.dumps(fixture("sendgrid-events.json")).encode()
    key = sendgrid.public_key(SENDGRID_PUBLIC)
    headers = sendgrid_headers(body)
    signature = headers["X-Twilio-Email-Event-Webhook-Signature"]
    timestamp = headers["X-Twilio-Email-Event-Webhook-Timestamp"]
    sendgrid.verify(body, signature, timestamp, key, now=NOW)
    with pytest.raises(Rejected, match="bad signature"):
        sendgrid.verify(body + b" ", signature, timestamp, key, now=NOW)
    with pytest.raises(Rejected, match="bad signature"):
        sendgrid.verify(body, signature, str(int(timestamp) + 1), key, now=NOW)
    with pytest.raises(Rejected, match="timestamp"):
        sendgrid.verify(body, signature, timestamp, key, now=NOW + timedelta(minutes=10))


def test_sendgrid_refusals_through_the_app_change_nothing(
    client: TestClient, project: Project
) -> None:
    before = database_dump(project)
    body = json.dumps(fixture("sendgrid-events.json")).encode()
    other_key = ec.generate_private_key(ec.SECP256R1())
    for headers in (
        {},
        sendgrid_headers(body, key=other_key),
        sendgrid_headers(body, at=NOW - timedelta(hours=1)),
        sendgrid_headers(body + b"\n"),  # Signed for another body.
    ):
        answer = client.post("/webhooks/sendgrid", content=body, headers=headers)
        assert answer.status_code == 403, answer.text
    junk = b'{"event": "bounce"}'  # Signed, but not SendGrid's array.
    answer = client.post("/webhooks/sendgrid", content=junk, headers=sendgrid_headers(junk))
    assert answer.status_code == 400
    assert database_dump(project) == before


def test_a_sendgrid_key_that_is_no_p256_key_answers_503(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    rsa_public = base64.b64encode(
        SNS_KEY.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    project = Project(
        project.config,
        project.root,
        project.source,
        {**project.secrets, "NEWSLETTER_SENDGRID_PUBLIC_KEY": rsa_public},
    )
    client = TestClient(create_app(project, clock=lambda: NOW))
    body = b"[]"
    answer = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_headers(body))
    assert answer.status_code == 503
