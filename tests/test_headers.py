"""Header injection: no value from content, configuration or a subscriber ever breaks a header.

An issue title "Hi\\r\\nBcc: victim@..." (front matter can hold it in a quoted YAML or TOML
string), a subscriber named "Ada\\r\\nBcc: ...", a newsletter name with a line break: each stays
inside its own header. `check` reports such titles with file and line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update

from newsletter.config import Config, Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.compose import Content, MessageTemplate, Recipient, Sender
from newsletter.deliver.message import send_notice
from newsletter.deliver.signing import signer_for
from newsletter.deliver.transports import open_transport
from newsletter.errors import NewsletterError
from newsletter.subscribers.models import SUBSCRIBER

from .conftest import SmtpServer
from .test_compose import _key
from .test_delivery import ISSUE, make_project, newsletter

# Every kind of line break a header parser (or a mail client) might honour.
BREAKS = ["\r\n", "\n", "\r", "\x00", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x1b"]
VICTIM = "victim@example.org"


def header_lines(raw: bytes) -> list[bytes]:
    """The header lines of a raw message, as sent (continuation lines joined to theirs)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b""), "a bare LF in the header section"
    assert b"\r" not in head.replace(b"\r\n", b""), "a bare CR in the header section"
    lines: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\r\n" + line
        else:
            lines.append(line)
    return lines


def header_names(raw: bytes) -> list[str]:
    return [line.split(b":", 1)[0].decode("ascii").lower() for line in header_lines(raw)]


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_one_header_each(raw: bytes) -> None:
    """No injected header: each name at most once, nothing but the headers we write, and no
    control character anywhere in the header section."""
    names = header_names(raw)
    assert "bcc" not in names and "cc" not in names
    assert len(names) == len(set(names)), names
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"")
    assert not re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", head)


def hostile_issue(project: Project) -> None:
    """The sample issue with the title `Hi<CR><LF>Bcc: victim@...` written as YAML escapes."""
    main = project.issues_path / ISSUE / "issue.md"
    text = main.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^title: .*$", r'title: "Hi\\r\\nBcc: victim@example.org"', text, count=1)
    main.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    made = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", readers=[("ada@example.org", "Ada", "en")]
    )
    hostile_issue(made)
    # A name with a line break, as an old import or a direct database write could leave it.
    engine = create_db_engine(database_url(made))
    with engine.begin() as connection:
        connection.execute(update(SUBSCRIBER).values(name="Ada\r\nBcc: victim2@example.org"))
    engine.dispose()
    return made


def test_check_reports_line_breaks_in_titles_and_preheaders_with_file_and_line(
    project: Project,
) -> None:
    (project.issues_path / "toml-issue.md").write_text(
        '+++\ntitle = "Hi\\nCc: victim@example.org"\nstatus = "ready"\n'
        'description = "One line\\u2028and another"\n+++\n\nThe lead.\n\n## A story\n\nText.\n',
        encoding="utf-8",
    )
    code, output = newsletter(project, "check")
    assert code == 1, output
    assert f"/{ISSUE}/issue.md:2: the title holds a carriage return (CR)" in output, output
    assert "/toml-issue.md:2: the title holds a line feed (LF)" in output
    assert "/toml-issue.md:4: the preheader holds a line separator (U+2028)" in output
    assert output.count("error: ") == 3
    assert "fix: write the title on one line" in output


@pytest.mark.parametrize("transport", ["smtp", "eml"])
def test_a_real_send_of_a_title_with_a_line_break_carries_no_injected_header(
    project: Project, smtp_server: SmtpServer, transport: str
) -> None:
    if transport == "eml":
        source = project.source
        assert source is not None
        config = source.read_text(encoding="utf-8")
        source.write_text(
            config.replace(f"{smtp_server.url}?connections=1", "eml:outbox"), encoding="utf-8"
        )
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    if transport == "smtp":
        [received] = smtp_server.received
        assert received.recipients == ["ada@example.org"]  # The envelope: nobody else.
        raw = received.data
    else:
        [file] = (project.root / "outbox").glob("*.eml")
        raw = file.read_bytes()
    assert_one_header_each(raw)
    message = parsed(raw)
    assert message["Subject"] == f"Hi Bcc: {VICTIM}"
    assert [a.addr_spec for a in message["To"].addresses] == ["ada@example.org"]
    assert message["To"].addresses[0].display_name == "Ada Bcc: victim2@example.org"
    assert message.get_all("Bcc") is None


@pytest.mark.parametrize("newline", BREAKS)
def test_no_header_value_can_start_a_new_header(newline: str) -> None:
    hostile = f"x{newline}Bcc: {VICTIM}"
    sender = Sender(
        name=f"AI Weekly{newline}Bcc: {VICTIM}",
        address="weekly@news.example.org",
        reply_to="editors@news.example.org",
        list_name=f"AI{newline}Bcc: {VICTIM}",
        unsubscribe_address="unsubscribe@news.example.org",
    )
    content = Content("en", f"Hi{newline}Bcc: {VICTIM}", "<p>Hi</p>", "Hi", "https://x.org/")
    recipient = Recipient(
        email="ada@example.org",
        name=f"Ada{newline}Bcc: {VICTIM}",
        message_id=f"<1.2@news.example.org{newline}Bcc: {VICTIM}>",
        unsubscribe_url=f"https://news.example.org/unsubscribe/{hostile}",
        preferences_url="https://news.example.org/preferences/t",
        unsubscribe_token=hostile,
    )
    for test in (False, True):
        raw = MessageTemplate(content, sender, test=test).fill(
            recipient, f"Mon, 01 Dec 2031 08:00:00 +0000{newline}Bcc: {VICTIM}"
        )
        assert_one_header_each(raw)
        message = parsed(raw)
        assert message.get_all("Bcc") is None
        assert [a.addr_spec for a in message["To"].addresses] == ["ada@example.org"]
        assert message["Subject"].endswith(f"Hi Bcc: {VICTIM}")
        assert [a.addr_spec for a in message["From"].addresses] == ["weekly@news.example.org"]
        assert message["List-Id"].endswith("<ai-bcc-victim-example-org.news.example.org>")


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\u2028", "\x00"])
def test_notices_never_carry_an_injected_header(
    tmp_path: Path, smtp_server: SmtpServer, newline: str
) -> None:
    config = Config.model_construct(
        **{
            **Config().model_dump(),
            "name": f"AI{newline}Bcc: {VICTIM}",
            "sender_address": "weekly@news.example.org",
        }
    )
    outcome = send_notice(
        config,
        lambda: open_transport(smtp_server.url, {}, tmp_path),
        to="editor@news.example.org",
        subject=f"No issue ready{newline}Bcc: {VICTIM}",
        text="Body.",
        now=datetime(2031, 12, 1, 8, 0, tzinfo=UTC),
        reply_to="editors@news.example.org",
    )
    assert outcome.state == "sent", outcome.reply
    [received] = smtp_server.received
    assert received.recipients == ["editor@news.example.org"]
    assert_one_header_each(received.data)
    message = parsed(received.data)
    assert message["Subject"] == f"No issue ready Bcc: {VICTIM}"
    assert [a.addr_spec for a in message["From"].addresses] == ["weekly@news.example.org"]


@pytest.mark.parametrize(
    ("setting", "value"), [("dkim_selector", f"nl\r\nBcc: {VICTIM}"), ("dkim_domain", "x.org\n")]
)
def test_dkim_names_that_are_not_dns_names_are_refused(setting: str, value: str) -> None:
    private, _ = _key()
    settings = {"dkim_selector": "nl2026", setting: value}
    config = Config.model_construct(**{**Config().model_dump(), **settings})
    with pytest.raises(NewsletterError, match=f"{setting} .* is not a DNS name"):
        signer_for(config, {"NEWSLETTER_DKIM_PRIVATE_KEY": private.decode()})
