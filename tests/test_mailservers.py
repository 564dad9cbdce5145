"""The Postfix relay of tests/mailservers.py writes real DSNs for what the final server refuses."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from .conftest import SmtpServer
from .mailservers import postfix_relay


@pytest.fixture
def sink(smtp_server: SmtpServer) -> Iterator[SmtpServer]:
    """The final server: gone@ refused for good (550), full@ deferred (452), others taken."""
    smtp_server.recorder.replies = {
        "gone@dest.test": "550 5.1.1 User unknown",
        "full@dest.test": "452 4.2.2 Mailbox full",
    }
    yield smtp_server


def _send(port: int, sender: str, recipients: list[str], message_id: str) -> None:
    message = EmailMessage()
    message["From"] = "app@app.test"
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = message_id
    message.set_content("hi\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message, sender, recipients)


def test_postfix_returns_dsns_for_a_550_and_an_expired_452(sink: SmtpServer) -> None:
    with postfix_relay(sink.port, lifetime="0") as relay:
        _send(
            relay.port,
            "bounces+1@bounces.test",
            ["ok@dest.test", "gone@dest.test"],
            "<m1@app.test>",
        )
        _send(relay.port, "bounces+2@bounces.test", ["full@dest.test"], "<m2@app.test>")
        raws = [path.read_bytes() for path in relay.wait_for_dsns(2, timeout=30)]
    reports = {}
    for raw in raws:
        dsn = message_from_bytes(raw, policy=policy.default)
        assert dsn.get_content_type() == "multipart/report"
        assert dsn["Return-Path"] == "<>"
        reports[str(dsn["Delivered-To"])] = raw.decode(errors="replace")
    assert set(reports) == {"bounces+1@bounces.test", "bounces+2@bounces.test"}
    assert "Status: 5.1.1" in reports["bounces+1@bounces.test"]
    assert "gone@dest.test" in reports["bounces+1@bounces.test"]
    assert "Status: 4.2.2" in reports["bounces+2@bounces.test"]
    assert [received.recipients for received in sink.received] == [["ok@dest.test"]]
