"""Display names in From and To: whatever a subscriber or the configuration calls itself, the
header holds one address with that name, quoted or RFC 2047-encoded; text that looks like an
encoded word is encoded itself, so no client decodes what a stranger typed; bidirectional
controls (which can make a name read as another, "\u202egnp.exe") are removed. Read back with
the email package from what a real SMTP server on 127.0.0.1 received."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from newsletter.config import load_project
from newsletter.deliver.message import send_notice
from newsletter.deliver.transports import open_transport

from .conftest import SmtpServer
from .test_delivery import ISSUE, make_project, newsletter

# (what is written, what a reader's mail client must show)
NAMES = [
    ('Ann "The Boss" Lee', 'Ann "The Boss" Lee'),
    ("Lee, Ann", "Lee, Ann"),
    ("Ann <boss@attacker.example>", "Ann <boss@attacker.example>"),
    ("Ann; Bob: <x@y.example>,", "Ann; Bob: <x@y.example>,"),
    ("=?utf-8?q?Your_Bank?=", "=?utf-8?q?Your_Bank?="),
    ("Support =?utf-8?b?QWRtaW4=?= team", "Support =?utf-8?b?QWRtaW4=?= team"),
    ('Zoë Müller, "Ö" <z@x.example>', 'Zoë Müller, "Ö" <z@x.example>'),
    ("張偉 =?utf-8?q?x?=", "張偉 =?utf-8?q?x?="),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ("\u2066Admin\u2069 \u2067x\u2068y", "Admin xy"),
    ("\u202e \u2066", ""),  # Nothing left to show: the address alone.
    ('Ann\\ Lee (the \\"boss\\")', 'Ann\\ Lee (the \\"boss\\")'),
]


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def one_address(message: EmailMessage, header: str) -> tuple[str, str]:
    """(display name, address) of the one address `header` holds; no defects."""
    [value] = message.get_all(header)
    assert not value.defects, (header, value.defects, str(value))
    [address] = value.addresses
    return address.display_name, address.addr_spec


@pytest.mark.parametrize(("written", "shown"), NAMES)
def test_a_notice_names_sender_and_recipient_as_written(
    tmp_path: Path, smtp_server: SmtpServer, written: str, shown: str
) -> None:
    (tmp_path / "newsletter.toml").write_text(
        f'sender_name = {json.dumps(written)}\nsender_address = "weekly@news.example.org"\n',
        encoding="utf-8",
    )
    config = load_project(tmp_path / "newsletter.toml", environ={}).config
    outcome = send_notice(
        config,
        lambda: open_transport(smtp_server.url, {}, tmp_path),
        to="reader@example.org",
        to_name=written,
        subject="Please confirm",
        text="Body.",
        now=datetime(2031, 12, 1, 8, 0, tzinfo=UTC),
    )
    assert outcome.state == "sent", outcome.reply
    [received] = smtp_server.received
    assert received.recipients == ["reader@example.org"]
    message = parsed(received.data)
    assert one_address(message, "From") == (shown, "weekly@news.example.org")
    assert one_address(message, "To") == (shown, "reader@example.org")
    assert b"=?utf-8?q?Your_Bank?=" not in received.data  # Never as an encoded word itself.


def test_an_issue_names_sender_and_every_reader_as_written(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    readers = [(f"r{n}@example.org", written, "en") for n, (written, _) in enumerate(NAMES)]
    sender = 'AI "Weekly", <news@attacker.example> =?utf-8?q?Bank?= \u202eZoë'
    project = make_project(
        tmp_path,
        f"{smtp_server.url}?connections=1",
        readers=readers,
        sender_name=json.dumps(sender),
    )
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    received = {r.recipients[0]: parsed(r.data) for r in smtp_server.received}
    assert len(received) == len(NAMES)
    for n, (_, shown) in enumerate(NAMES):
        message = received[f"r{n}@example.org"]
        assert one_address(message, "To") == (shown, f"r{n}@example.org")
        expected = 'AI "Weekly", <news@attacker.example> =?utf-8?q?Bank?= Zoë'
        assert one_address(message, "From") == (expected, "weekly@news.example.org")
