"""Provider webhooks: the documented payloads (tests/fixtures/webhooks/) signed with test keys.

Signatures, payloads to notices, and every refusal through the running app (a real SQLite
file, FastAPI's TestClient): a refused request is 403, 400 or 413 and the database is byte for
byte what it was. What valid requests do to subscribers is in test_webhooks_processing.py.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.db_schema import upgrade
from newsletter.errors import ConfigError
from newsletter.inbound.providers import mailgun, postmark, sendgrid, ses
from newsletter.inbound.providers.events import Malformed, Rejected, event_digest
from newsletter.web.app import create_app

from .conftest import FIXTURES, UNICODE

WEBHOOKS = FIXTURES / "webhooks"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
MAILGUN_KEY = "key-test-mailgun-signing-0123456789"
POSTMARK_SECRET = "postmark-webhook-secret-0123456789"


def fixture(name: str) -> Any:
    return json.loads((WEBHOOKS / name).read_text(encoding="utf-8"))


# --- Test keys: an RSA certificate standing in for SNS's, an EC P-256 key for SendGrid. ---


def _certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-west-2.amazonaws.com")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SNS_PEM = _certificate(SNS_KEY).public_bytes(serialization.Encoding.PEM)
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def signed_sns(
    envelope: dict[str, Any],
    *,
    version: str = "2",
    at: datetime = NOW,
    key: rsa.RSAPrivateKey = SNS_KEY,
    topic: str = TOPIC,
) -> dict[str, Any]:
    """The SNS envelope re-stamped `at`, on `topic`, signed as SNS signs (by `key`)."""
    envelope = {**envelope, "TopicArn": topic, "SignatureVersion": version}
    envelope["Timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(ses.canonical_string(envelope), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode()
    return envelope


def signed_mailgun(
    payload: dict[str, Any], *, at: datetime = NOW, key: str = MAILGUN_KEY
) -> dict[str, Any]:
    """The Mailgun payload with a fresh token and timestamp, signed with `key`."""
    payload = copy.deepcopy(payload)
    timestamp = str(int(at.timestamp()))
    token = hashlib.sha256(json.dumps(payload).encode() + timestamp.encode()).hexdigest()[:50]
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": timestamp, "token": token, "signature": digest}
    return payload


def sendgrid_headers(
    body: bytes, *, at: datetime = NOW, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY
) -> dict[str, str]:
    """The signed event webhook's headers for `body`, as SendGrid sends them."""
    timestamp = str(int(at.timestamp()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def postmark_auth(password: str = POSTMARK_SECRET) -> dict[str, str]:
    credentials = base64.b64encode(f"postmark:{password}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


# --- The app, with every provider on. ---


def make_project(tmp_path: Path, *, providers: bool = True) -> Project:
    """A project with a real SQLite database; every webhook on when `providers`."""
    (tmp_path / "config").mkdir()
    (tmp_path / "sns.pem").write_bytes(SNS_PEM)
    webhooks = f'ses_certificate = "sns.pem"\nses_topic_arns = ["{TOPIC}"]\n' if providers else ""
    (tmp_path / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\nlocales = ["en"]\n'
        'database_url = "sqlite:///subscribers.db"\ntransport_url = "null:"\n' + webhooks,
        encoding="utf-8",
    )
    environ = {"NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789abcdef"}
    if providers:
        environ |= {
            "NEWSLETTER_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
            "NEWSLETTER_SENDGRID_PUBLIC_KEY": SENDGRID_PUBLIC,
            "NEWSLETTER_POSTMARK_WEBHOOK_SECRET": POSTMARK_SECRET,
        }
    project = load_project(tmp_path / "config" / "newsletter.toml", environ=environ)
    upgrade(create_db_engine(database_url(project)))
    return project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


@pytest.fixture
def client(project: Project) -> TestClient:
    return TestClient(create_app(project, clock=lambda: NOW))


def database_dump(project: Project) -> list[str]:
    """Every row of every table, as SQL: what "nothing changed" is compared with."""
    with sqlite3.connect(project.root / "subscribers.db") as connection:
        return list(connection.iterdump())


# --- Amazon SES through SNS ---


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("name", ["ses-bounce.json", "ses-complaint.json", "ses-delivery.json"])
def test_sns_signatures_of_both_versions_verify(name: str, version: str) -> None:
    envelope = signed_sns(fixture(name), version=version)
    ses.verify(envelope, ses.certificate_keys(SNS_PEM), {TOPIC}, now=NOW)


def test_the_subject_is_signed_when_present() -> None:
    envelope = signed_sns(fixture("ses-complaint.json"))
    assert (
        "Subject\nAmazon SES Email Event Notification\n" in ses.canonical_string(envelope).decode()
    )
    envelope["Subject"] = "Something else"
    with pytest.raises(Rejected, match="bad signature"):
        ses.verify(envelope, ses.certificate_keys(SNS_PEM), {TOPIC}, now=NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.update(Message=e["Message"].replace("jane@", "john@")), "bad signature"),
        (lambda e: e.update(TopicArn="arn:aws:sns:us-west-2:999999999999:Other"), "topic"),
        (lambda e: e.pop("Signature"), "missing signature"),
        (lambda e: e.update(SignatureVersion="3"), "missing signature"),
        (lambda e: e.update(Signature="not base64!"), "bad signature"),
        (lambda e: e.update(Type="Spam"), "not an SNS message"),
    ],
)
def test_a_tampered_or_foreign_sns_message_is_rejected(change: Any, reason: str) -> None:
    envelope = signed_sns(fixture("ses-bounce.json"))
    change(envelope)
    with pytest.raises(Rejected, match=reason):
        ses.verify(envelope, ses.certificate_keys(SNS_PEM), {TOPIC}, now=NOW)


def test_an_sns_message_signed_by_another_key_or_on_another_topic_is_rejected() -> None:
    # Anyone may own an SNS topic signed with SNS's certificate: the topic list is the lock.
    keys = ses.certificate_keys(SNS_PEM)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Rejected, match="bad signature"):
        ses.verify(signed_sns(fixture("ses-bounce.json"), key=other), keys, {TOPIC}, now=NOW)
    foreign = signed_sns(fixture("ses-bounce.json"), topic="arn:aws:sns:us-west-2:999999999999:T")
    with pytest.raises(Rejected, match="topic"):
        ses.verify(foreign, keys, {TOPIC}, now=NOW)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_an_old_or_future_sns_timestamp_is_rejected(offset: timedelta) -> None:
    envelope = signed_sns(fixture("ses-bounce.json"), at=NOW + offset)
    with pytest.raises(Rejected, match="timestamp"):
        ses.verify(envelope, ses.certificate_keys(SNS_PEM), {TOPIC}, now=NOW)


def test_an_sns_message_that_holds_no_ses_notification_is_read_as_a_problem() -> None:
    envelope = signed_sns({**fixture("ses-bounce.json"), "Message": "Hello from the console"})
    (reading,) = ses.readings(envelope)
    assert reading.problem and not reading.notices and reading.source == "webhook:ses"
    assert (
        reading.digest == ses.readings(envelope)[0].digest
    )  # By MessageId: a retry is a duplicate.


def test_a_subscription_confirmation_is_logged_for_the_operator_and_never_fetched(
    client: TestClient, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    before = database_dump(project)
    envelope = signed_sns(fixture("ses-subscription-confirmation.json"), version="1")
    with caplog.at_level(logging.WARNING):
        answer = client.post("/webhooks/ses", content=json.dumps(envelope))
    assert answer.status_code == 200 and answer.json()["events"] == 0
    assert "Action=ConfirmSubscription" in caplog.text
    assert database_dump(project) == before


def test_ses_refusals_through_the_app_change_nothing(client: TestClient, project: Project) -> None:
    before = database_dump(project)
    bounce = fixture("ses-bounce.json")
    stale = signed_sns(bounce, at=NOW - timedelta(hours=1))
    forged = signed_sns(bounce)
    forged["Message"] = forged["Message"].replace("Permanent", "Transient")
    for envelope in (stale, forged, bounce):  # `bounce` as documented: AWS's example signature.
        answer = client.post("/webhooks/ses", content=json.dumps(envelope))
        assert answer.status_code == 403, answer.text
        assert answer.json()["title"]
    assert client.post("/webhooks/ses", content=b"{not json").status_code == 400
    assert database_dump(project) == before


def test_a_forged_sns_message_cannot_make_the_log_recommend_its_certificate(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A bad signature logs the certificate the message names, for the operator to install
    # after AWS changes it: a forger's URL must never be shown there.
    aws = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
    for url in ("https://evil.example/SimpleNotificationService-1.pem", aws):
        forged = {
            **signed_sns(fixture("ses-bounce.json")),
            "Signature": "AAAA",
            "SigningCertURL": url,
        }
        with caplog.at_level(logging.WARNING):
            assert client.post("/webhooks/ses", content=json.dumps(forged)).status_code == 403
    assert "evil.example" not in caplog.text
    assert aws in caplog.text


def test_an_unreadable_certificate_answers_503_so_sns_retries(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (tmp_path / "sns.pem").write_text("not a certificate", encoding="utf-8")
    client = TestClient(create_app(project, clock=lambda: NOW))
    answer = client.post(
        "/webhooks/ses", content=json.dumps(signed_sns(fixture("ses-bounce.json")))
    )
    assert answer.status_code == 503


# --- What every route shares ---


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid"])
def test_a_provider_without_its_secret_has_no_route(tmp_path: Path, provider: str) -> None:
    client = TestClient(create_app(make_project(tmp_path, providers=False), clock=lambda: NOW))
    assert client.post(f"/webhooks/{provider}", content=b"{}").status_code == 404


@pytest.mark.parametrize("provider", ["ses", "postmark", "mailgun", "sendgrid"])
def test_a_body_over_one_megabyte_is_413(
    client: TestClient, project: Project, provider: str
) -> None:
    before = database_dump(project)
    body = b"[" + b" " * (1024 * 1024) + b"]"
    answer = client.post(f"/webhooks/{provider}", content=body, headers=postmark_auth())
    assert answer.status_code == 413
    # Without a Content-Length (chunked), the limit holds while reading.
    chunks = iter([b"[", b" " * (1024 * 1024), b"]"])
    answer = client.post(f"/webhooks/{provider}", content=chunks, headers=postmark_auth())
    assert answer.status_code == 413
    assert database_dump(project) == before


def test_the_same_event_has_the_same_digest_whatever_its_key_order() -> None:
    event = {"a": 1, "b": [1, 2], "c": "é"}
    reordered = {"c": "é", "b": [1, 2], "a": 1}
    assert event_digest("postmark", "", event) == event_digest("postmark", "", reordered)
    assert event_digest("postmark", "", event) != event_digest("postmark", "", {**event, "a": 2})
    assert event_digest("mailgun", "X1", event) == event_digest("mailgun", "X1", {})
    assert event_digest("mailgun", "X1", event) != event_digest("sendgrid", "X1", event)


@pytest.mark.parametrize(
    "payload",
    [
        {"event-data": {"event": "failed", "recipient": ["x"], "delivery-status": "x",
                        "message": {"headers": {"message-id": {"a": 1}}}}},
        {"event-data": {"event": "failed", "severity": None, "delivery-status": {"code": "x" * 50}}},
        {"event-data": {"event": "complained", "recipient": "a\r\nBcc: b@example.org" * 100}},
    ],
)  # fmt: skip
def test_odd_mailgun_values_are_read_without_a_crash(payload: dict[str, Any]) -> None:
    for reading in mailgun.readings(payload):
        for notice in reading.notices:
            assert "\n" not in notice.recipient and len(notice.recipient) <= 320


def test_ses_topic_arns_are_checked_when_the_configuration_loads(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text('ses_topic_arns = ["my-topic"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="SNS topic ARN"):
        load_project(tmp_path / "newsletter.toml", environ={})
    (tmp_path / "newsletter.toml").write_text('name = "AI Weekly"\n', encoding="utf-8")
    project = load_project(
        tmp_path / "newsletter.toml",
        environ={
            "NEWSLETTER_SES_CERTIFICATE": "sns.pem",  # Topics without a certificate: an error.
            "NEWSLETTER_SES_TOPIC_ARNS": f"{TOPIC}, arn:aws:sns:eu-west-1:123456789012:b",
        },
    )
    assert project.config.ses_topic_arns == [TOPIC, "arn:aws:sns:eu-west-1:123456789012:b"]


# --- Any JSON at all: read or refused, never a crash. ---

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(UNICODE, max_size=30),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["event", "event-data", "signature", "RecordType", "TypeCode", "Email", "email",
             "severity", "reason", "delivery-status", "code", "message", "headers", "message-id",
             "smtp-id", "status", "type", "Type", "TopicArn", "Message", "Metadata", "Content",
             "SuppressSending", "SuppressionReason", "Origin", "Recipient", "id", "ID"]
        ) | st.text(UNICODE, max_size=10),
        inner,
        max_size=6,
    ),
    max_leaves=25,
)  # fmt: skip
EVENT_NAMES = st.sampled_from(
    ["failed", "complained", "unsubscribed", "delivered", "bounce", "dropped", "spamreport",
     "Bounce", "SpamComplaint", "Delivery", "SubscriptionChange", "Notification"]
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(value=JSON, name=EVENT_NAMES)
def test_any_json_is_read_or_refused_without_a_crash(value: Any, name: str) -> None:
    shaped = [
        value,
        {"event-data": {"event": name, **(value if isinstance(value, dict) else {})}},
        [{"event": name, **(value if isinstance(value, dict) else {})}],
        {"RecordType": name, **(value if isinstance(value, dict) else {})},
    ]
    keys = ses.certificate_keys(SNS_PEM)
    for payload in shaped:
        # (ses.readings is only ever given an envelope that verify() accepted.)
        for read in (mailgun.readings, sendgrid.readings, postmark.readings):
            try:
                found = read(payload)
            except Malformed:
                continue
            for reading in found:
                assert len(reading.digest) == 64
                for notice in reading.notices:
                    assert "\n" not in notice.recipient + notice.diagnostic
        for verify in (
            lambda p: mailgun.verify(p, MAILGUN_KEY, now=NOW),
            lambda p: ses.verify(p, keys, {TOPIC}, now=NOW),
        ):
            with pytest.raises(Rejected):
                verify(payload)
