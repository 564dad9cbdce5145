"""The inbound SMTP listener, spoken to with smtplib on a free loopback port."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsletter.config import Config
from newsletter.inbound.listener import MAX_RECIPIENTS, InboundListener, Mailboxes

from .conftest import SmtpServer
from .mailservers import free_port, postfix_relay

pytestmark = pytest.mark.slow  # Real Postfix or Dovecot: sent out first in a parallel run.

BOUNCES = "bounces@bounces.news.example.org"
VERP = "bounces+12-k3j5q2@bounces.news.example.org"
UNSUBSCRIBE = "leave@news.example.org"
DSN = (
    b"From: MAILER-DAEMON@dest.test\r\nTo: " + VERP.encode() + b"\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n\r\nThe mail system\r\n"
)


class _SpoolWatch:
    """A listener whose spool is checked at the moment the 250 to DATA arrives."""

    def __init__(self, spool: Path, port: int) -> None:
        self.spool = spool
        self.port = port

    def files(self) -> list[Path]:
        return sorted((self.spool / "new").iterdir())

    def client(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=10)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[_SpoolWatch]:
    spool = tmp_path / "inbound"
    port = free_port()
    server = InboundListener("127.0.0.1", port, spool, Mailboxes.of(BOUNCES, UNSUBSCRIBE))
    server.start()
    try:
        yield _SpoolWatch(spool, port)
    finally:
        server.stop()


def test_a_verp_recipient_is_on_disk_before_the_250(listener: _SpoolWatch) -> None:
    with listener.client() as client:
        client.ehlo()
        assert client.mail("")[0] == 250  # DSNs come with the null sender.
        assert client.rcpt(VERP.upper())[0] == 250  # Case does not matter.
        code, _ = client.data(DSN)
        files = listener.files()  # Read as soon as the 250 is in: nothing may come later.
    assert code == 250
    assert len(files) == 1
    stored = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert stored["Return-Path"] == "<>"
    assert stored["Delivered-To"] == VERP
    assert stored["Subject"] == "Undelivered Mail Returned to Sender"
    assert files[0].read_bytes().endswith(DSN)  # The message as it came, byte for byte.
    assert not list((listener.spool / "tmp").iterdir())


def test_other_recipients_are_refused(listener: _SpoolWatch) -> None:
    with listener.client() as client:
        client.ehlo()
        client.mail("mailer-daemon@dest.test")
        for address in (
            "someone@news.example.org",
            "bounces+1@elsewhere.example.org",
            "other+12@bounces.news.example.org",
            '"bounces+a b"@bounces.news.example.org',
            "postmaster@bounces.news.example.org",
        ):
            code, said = client.rcpt(address)
            assert (code, said[:5]) == (550, b"5.1.1"), address
    assert not list((listener.spool / "new").iterdir())


def test_the_unsubscribe_mailbox_and_the_bounce_address_are_accepted(
    listener: _SpoolWatch,
) -> None:
    with listener.client() as client:
        refused = client.sendmail(
            "reader@example.com",
            [UNSUBSCRIBE, BOUNCES],
            b"Subject: unsubscribe abc.def\r\n\r\n",
        )
    assert refused == {}
    delivered = {
        message_from_bytes(path.read_bytes(), policy=policy.default)["Delivered-To"]
        for path in listener.files()
    }
    assert delivered == {UNSUBSCRIBE, BOUNCES}  # One copy per recipient, as a local MDA does.


def test_a_message_over_10_mb_is_refused_with_552(listener: _SpoolWatch) -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 20_000  # 20 MB
    with listener.client() as client:
        # smtplib declares the size (SIZE=) and the listener refuses it up front...
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            client.sendmail("", [VERP], big)
        assert declared.value.smtp_code == 552
        # ...and one that does not declare it is refused once the data passes the limit.
        client.rset()
        client.ehlo()
        client.mail("")
        client.rcpt(VERP)
        code, _ = client.data(big)
    assert code == 552
    assert not list((listener.spool / "new").iterdir())


def test_the_configuration_checks_the_listen_address(tmp_path: Path) -> None:
    assert Config(inbound_listen="127.0.0.1:2525").inbound_listen == "127.0.0.1:2525"
    for bad in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", "bad host:25"):
        with pytest.raises(ValueError, match=r"HOST:PORT|host"):
            Config(inbound_listen=bad)
    with pytest.raises(ValueError, match="NEWSLETTER_IMAP_PASSWORD") as caught:
        Config(inbound_urls=["imap://alice:hunter2@mail.example.org/INBOX"])
    assert "hunter2" not in str(caught.value).split("input_value")[0]


def test_a_taken_port_is_one_clear_error(listener: _SpoolWatch, tmp_path: Path) -> None:
    from newsletter.errors import NewsletterError

    second = InboundListener(
        "127.0.0.1", listener.port, tmp_path / "other", Mailboxes.of(BOUNCES, UNSUBSCRIBE)
    )
    with pytest.raises(NewsletterError, match=r"could not listen on 127\.0\.0\.1"):
        second.start()


def test_newsletter_run_listens_and_stops_with_the_service(tmp_path: Path) -> None:
    import threading

    from newsletter.service.runner import Options, run_service

    from .test_delivery import make_project

    port = free_port()
    project = make_project(
        tmp_path,
        "null:",
        inbound_listen=f'"127.0.0.1:{port}"',
        bounce_address=f'"{BOUNCES}"',
        inbound_spool='"var/inbound"',
    )
    stop = threading.Event()
    service = threading.Thread(target=run_service, args=(project, Options(web=False), stop))
    service.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline, "the listener never listened"
                time.sleep(0.1)
        with client:
            assert client.sendmail("", [VERP], DSN) == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("", ["someone@news.example.org"], DSN)
    finally:
        stop.set()
        service.join(60)
    assert not service.is_alive()
    # Spooled under the project; the poller may have moved it on to the processed folder.
    stored = [path for path in (tmp_path / "var" / "inbound").rglob("*") if path.is_file()]
    assert [path.read_bytes().endswith(DSN) for path in stored] == [True]
    with pytest.raises(OSError):  # Stopped with the service.
        smtplib.SMTP("127.0.0.1", port, timeout=2)


def test_postfix_delivers_its_dsn_to_the_listener(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """The bounce domain's MX pointed at the listener: a real DSN arrives in the spool."""
    smtp_server.recorder.replies = {"gone@dest.test": "550 5.1.1 User unknown"}
    port = free_port()
    listener = InboundListener(
        "127.0.0.1", port, tmp_path / "spool", Mailboxes.of("bounces@bounces.test", UNSUBSCRIBE)
    )
    listener.start()
    try:
        with postfix_relay(smtp_server.port, bounces_to=port) as relay:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
                client.sendmail(
                    "bounces+7-abc@bounces.test",
                    ["gone@dest.test"],
                    b"From: app@app.test\r\nMessage-ID: <m7@app.test>\r\n\r\nhi\r\n",
                )
            deadline = time.monotonic() + 30
            while not list((tmp_path / "spool" / "new").iterdir()):
                assert time.monotonic() < deadline, (relay.folder / "maillog").read_text()
                time.sleep(0.05)
    finally:
        listener.stop()
    [path] = (tmp_path / "spool" / "new").iterdir()
    dsn = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert dsn["Delivered-To"] == "bounces+7-abc@bounces.test"
    assert dsn["Return-Path"] == "<>"
    assert dsn.get_content_type() == "multipart/report"
    assert b"Status: 5.1.1" in path.read_bytes() and b"<m7@app.test>" in path.read_bytes()


def test_the_poller_reads_mailboxes_only_while_leading_and_survives_a_broken_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from newsletter.config import load_project
    from newsletter.db import utcnow
    from newsletter.service.inbound import Inbound

    (tmp_path / "newsletter.toml").write_text(
        'inbound_urls = ["imap://alice@127.0.0.1:1/INBOX", "imap://bob@127.0.0.1:1/INBOX"]\n'
        "inbound_poll_seconds = 60\n",
        encoding="utf-8",
    )
    project = load_project(tmp_path / "newsletter.toml", environ={})
    lead = False
    inbound = Inbound(project, None, utcnow, lambda: lead)  # type: ignore[arg-type]
    caplog.set_level(logging.ERROR, logger="newsletter.service.inbound")
    inbound.poll(100.0)
    assert caplog.records == []  # Not leading: another service reads the mailboxes.
    lead = True
    inbound.poll(101.0)  # The first pass as soon as it leads; each source fails on its own.
    logged = [record.getMessage() for record in caplog.records]
    assert len(logged) == 2
    assert "imap://alice@127.0.0.1:1/INBOX" in logged[0]
    assert "imap://bob@127.0.0.1:1/INBOX" in logged[1]
    inbound.poll(150.0)  # Not due again before inbound_poll_seconds.
    assert len(caplog.records) == 2
    inbound.poll(161.0)
    assert len(caplog.records) == 4


def test_one_message_is_spooled_a_bounded_number_of_times(listener: _SpoolWatch) -> None:
    # Every `bounces+TAG` is accepted; without a bound, one 10 MB DATA to thousands of them
    # (or to one of them thousands of times) would write gigabytes to the spool.
    with listener.client() as client:
        client.ehlo()
        client.mail("")
        answers = [client.rcpt(f"bounces+{n}-x@bounces.news.example.org")[0] for n in range(200)]
        answers += [client.rcpt(VERP)[0] for _ in range(3)]
        code, _ = client.data(DSN)
    assert code == 250
    assert answers.count(250) == MAX_RECIPIENTS
    assert set(answers) == {250, 452}  # 452: the sender tries the others again later.
    assert len(listener.files()) == MAX_RECIPIENTS
    with listener.client() as client:
        client.ehlo()
        client.mail("")
        assert [client.rcpt(VERP.upper())[0], client.rcpt(VERP)[0]] == [250, 250]
        assert client.data(DSN)[0] == 250
    assert len(listener.files()) == MAX_RECIPIENTS + 1  # The same recipient twice: one copy.


def test_the_poller_logs_a_pass_in_words_and_an_empty_one_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # It logged the report's dataclass repr (`PassReport(..., kinds=Counter(...))`) at every
    # pass, an INFO line a minute that said nothing when nothing came.
    import logging

    from newsletter.config import load_project
    from newsletter.db import create_db_engine, database_url, utcnow
    from newsletter.db_schema import upgrade
    from newsletter.service.inbound import Inbound

    for folder in ("new", "cur", "tmp"):
        (tmp_path / "box" / folder).mkdir(parents=True)
    (tmp_path / "box" / "new" / "1.junk").write_bytes(b"Subject: hello\n\nnot a bounce\n")
    (tmp_path / "newsletter.toml").write_text(
        'inbound_urls = ["maildir:box"]\ndatabase_url = "sqlite:///news.db"\n', encoding="utf-8"
    )
    project = load_project(tmp_path / "newsletter.toml", environ={})
    engine = create_db_engine(database_url(project))
    upgrade(engine)
    inbound = Inbound(project, engine, utcnow, lambda: True)
    caplog.set_level(logging.INFO, logger="newsletter.service.inbound")
    inbound.poll(100.0)
    [line] = [record.getMessage() for record in caplog.records]
    assert "1 processed, 0 duplicates (processed before), 1 kept for a human" in line, line
    assert "PassReport" not in line and "Counter" not in line, line
    caplog.clear()
    inbound.poll(200.0)  # Nothing new: nothing at INFO.
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    engine.dispose()
