"""The IMAP inbound source against a real Dovecot on loopback (plain, STARTTLS and TLS)."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest

from newsletter.errors import NewsletterError
from newsletter.inbound.imap import ImapSource, imap_location
from newsletter.inbound.sources import open_source

from .mailservers import Dovecot, dovecot, running_dovecot  # noqa: F401 (the module's fixture)

pytestmark = pytest.mark.slow  # Real Postfix or Dovecot: sent out first in a parallel run.


def _message(number: int) -> bytes:
    return (
        f"From: mailer-daemon@dest.test\r\nTo: bounces+{number}@bounces.test\r\n"
        f"Subject: report {number}\r\nMessage-ID: <report{number}@dest.test>\r\n\r\n"
        f"body {number}\r\n"
    ).encode()


def _open(server: Dovecot, query: str = "", scheme: str = "imap") -> ImapSource:
    source = open_source(
        server.url(query=query, scheme=scheme),
        {"NEWSLETTER_IMAP_PASSWORD": server.password},
        Path("/nonexistent"),
    )
    assert isinstance(source, ImapSource)
    return source


def _subjects(server: Dovecot, mailbox: str) -> dict[str, bytes]:
    """Subject -> flags of every message in `mailbox`, as a mail client sees them."""
    with server.client(mailbox) as client:
        _status, data = client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found = {}
        for item in data:
            if isinstance(item, tuple):
                subject = item[1].decode().strip().removeprefix("Subject: ")
                found[subject] = item[0]
        return found


@pytest.fixture
def server(dovecot: Dovecot) -> Dovecot:  # noqa: F811
    dovecot.empty("INBOX", "Processed", "Done")
    for number in (1, 2, 3):
        dovecot.append(_message(number))
    return dovecot


def test_messages_are_listed_oldest_first_and_stay_unseen(server: Dovecot) -> None:
    source = _open(server)
    try:
        read = list(source.messages())
    finally:
        source.close()
    assert [int(key) for key, _ in read] == sorted(int(key) for key, _ in read)
    assert [raw for _, raw in read] == [_message(1), _message(2), _message(3)]
    flags = _subjects(server, "INBOX")
    assert len(flags) == 3
    assert not any(b"\\Seen" in value for value in flags.values())  # BODY.PEEK, not BODY


def test_finish_moves_or_flags_exactly_that_message(server: Dovecot) -> None:
    source = _open(server)
    try:
        keys = [key for key, _ in source.messages()]
        source.finish(keys[0], kept=False)  # processed: moved to Processed (made on demand)
        source.finish(keys[1], kept=True)  # unmatched: flagged, left for a human
        again = [raw for _, raw in source.messages()]
        assert "MOVE" in source.capabilities  # The whole list is read, not its first line.
    finally:
        source.close()
    assert again == [_message(3)]  # Neither the moved nor the flagged one is read again.
    inbox = _subjects(server, "INBOX")
    assert set(inbox) == {"report 2", "report 3"}
    assert b"\\Flagged" in inbox["report 2"] and b"\\Flagged" not in inbox["report 3"]
    processed = _subjects(server, "Processed")
    assert set(processed) == {"report 1"}
    assert b"\\Seen" in processed["report 1"]


def test_the_processed_folder_is_named_in_the_url(server: Dovecot) -> None:
    source = _open(server, "processed=Done")
    try:
        key, _ = next(iter(source.messages()))
        source.finish(key, kept=False)
    finally:
        source.close()
    assert set(_subjects(server, "Done")) == {"report 1"}
    assert set(_subjects(server, "INBOX")) == {"report 2", "report 3"}


def test_starttls_verifies_the_certificate(server: Dovecot) -> None:
    source = _open(server, f"starttls&cafile={server.cafile}")
    try:
        assert len(list(source.messages())) == 3
        assert isinstance(source._connection.sock, ssl.SSLSocket)  # type: ignore[union-attr]
    finally:
        source.close()
    untrusted = _open(server, "starttls")  # The system's CAs do not know the test's certificate.
    with pytest.raises(NewsletterError, match=r"certificate is not trusted.*cafile"):
        list(untrusted.messages())


def test_imaps_reads_over_tls(server: Dovecot) -> None:
    source = _open(server, f"cafile={server.cafile}", scheme="imaps")
    try:
        assert next(raw for _, raw in source.messages()) == _message(1)
        assert isinstance(source._connection.sock, ssl.SSLSocket)  # type: ignore[union-attr]
    finally:
        source.close()


def test_plain_imap_to_another_host_is_refused_before_connecting() -> None:
    started = time.monotonic()
    # 192.0.2.1 (TEST-NET) answers nothing: a connection attempt would hang until its timeout.
    with pytest.raises(NewsletterError, match="plain IMAP is allowed only to a loopback host"):
        open_source("imap://alice@192.0.2.1/INBOX?plain", {"NEWSLETTER_IMAP_PASSWORD": "x"}, Path())
    assert time.monotonic() - started < 1
    assert imap_location("imap://alice@mail.example.org/INBOX", Path()).security == "starttls"
    assert imap_location("imap://alice@127.0.0.1/INBOX", Path()).security == "plain"
    assert imap_location("imaps://alice@mail.example.org/INBOX", Path()).port == 993


@pytest.mark.parametrize(
    ("url", "secrets", "says"),
    [
        ("imap://alice:hunter2@127.0.0.1/INBOX", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "holds a password"),
        ("imap://alice@127.0.0.1/INBOX", {}, "no IMAP password"),
        ("imap://alice@127.0.0.1/INBOX?fast=1", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "unknown or repeated option"),
        ("imap://127.0.0.1/INBOX", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "names no user"),
        ("imap://alice@127.0.0.1/Caf%C3%A9", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "plain ASCII name"),
        ("imaps://alice@127.0.0.1/INBOX?starttls", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "TLS already"),
        ("imap://alice@mail.example.org\n.evil.test/INBOX", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "control character"),
        ("imap://alice@127.0.0.1/INBOX?plain&starttls", {"NEWSLETTER_IMAP_PASSWORD": "x"}, "both"),
    ],
)  # fmt: skip
def test_bad_urls_are_refused_with_the_password_hidden(
    url: str, secrets: dict[str, str], says: str
) -> None:
    with pytest.raises(NewsletterError, match=says) as caught:
        open_source(url, secrets, Path())
    assert "hunter2" not in str(caught.value) and caught.value.hint


def test_a_server_that_is_not_there_is_one_clear_error() -> None:
    from .mailservers import free_port

    source = open_source(
        f"imap://alice@127.0.0.1:{free_port()}/INBOX", {"NEWSLETTER_IMAP_PASSWORD": "x"}, Path()
    )
    with pytest.raises(NewsletterError, match=r"cannot connect to 127\.0\.0\.1"):
        list(source.messages())


def test_hostile_messages_come_back_byte_for_byte_and_huge_ones_cut(server: Dovecot) -> None:
    server.empty("INBOX")
    junk = b'Subject: =?x-unknown?B?////?=\r\nContent-Type: multipart/mixed; boundary="b\r\n\r\n--b\r\n\xff\xfe\x80 truncated'
    server.append(junk)
    server.append(b"Subject: big\r\n\r\n" + b"y" * 200_000 + b"\r\n")
    source = ImapSource(imap_location(server.url(), Path()), server.password, max_bytes=100_000)
    try:
        read = [raw for _, raw in source.messages()]
    finally:
        source.close()
    assert read[0] == junk
    assert len(read[1]) == 100_000 and read[1].startswith(b"Subject: big")


def test_a_server_that_never_answers_times_out() -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # Accepts the connection, never says a word.
        port = silent.getsockname()[1]
        source = open_source(
            f"imap://alice@127.0.0.1:{port}/INBOX?timeout=1",
            {"NEWSLETTER_IMAP_PASSWORD": "x"},
            Path(),
        )
        started = time.monotonic()
        with pytest.raises(NewsletterError, match="cannot connect"):
            list(source.messages())
    assert time.monotonic() - started < 5


def test_without_move_the_message_is_copied_and_marked_deleted_only() -> None:
    # An older server: neither MOVE nor UIDPLUS, so no EXPUNGE that could also remove
    # what someone else marked deleted.
    with running_dovecot(imap_capability="IMAP4rev1 LITERAL+") as old:
        for number in (1, 2):
            old.append(_message(number))
        with old.client() as client:
            client.store("2", "+FLAGS", r"(\Deleted)")  # Someone else's, not yet expunged.
        source = _open(old)
        try:
            keys = [key for key, _ in source.messages()]
            assert len(keys) == 1  # The deleted one is skipped.
            source.finish(keys[0], kept=False)
            assert list(source.messages()) == []
            assert "MOVE" not in source.capabilities
        finally:
            source.close()
        inbox = _subjects(old, "INBOX")
        assert set(inbox) == {"report 1", "report 2"}  # Nothing expunged.
        assert all(b"\\Deleted" in flags for flags in inbox.values())
        assert set(_subjects(old, "Processed")) == {"report 1"}


def test_a_missing_mailbox_names_the_fix(server: Dovecot) -> None:
    source = open_source(
        server.url("Nowhere"), {"NEWSLETTER_IMAP_PASSWORD": server.password}, Path()
    )
    with pytest.raises(NewsletterError, match="could not open mailbox Nowhere") as caught:
        list(source.messages())
    assert "mailbox name" in str(caught.value.hint)
    source.close()


def test_a_recreated_mailbox_moves_nothing_read_before(server: Dovecot) -> None:
    server.append(_message(1), "Bounces")
    source = open_source(
        server.url("Bounces"), {"NEWSLETTER_IMAP_PASSWORD": server.password}, Path()
    )
    try:
        [(key, _)] = list(source.messages())
        with server.client("INBOX") as client:  # Someone deletes and recreates the folder.
            assert client.delete("Bounces")[0] == "OK"
        server.append(_message(9), "Bounces")  # It may get the same UID in the new folder.
        source.close()  # A connection lost between reading and finishing: finish reconnects.
        with pytest.raises(NewsletterError, match="UIDVALIDITY"):
            source.finish(key, kept=False)
    finally:
        source.close()
    assert set(_subjects(server, "Bounces")) == {"report 9"}
    server.empty("Bounces")


def test_a_wrong_password_is_one_clear_error(server: Dovecot) -> None:
    # Last in the module: Dovecot slows every later login from the address for a few seconds.
    source = open_source(server.url(), {"NEWSLETTER_IMAP_PASSWORD": "wrong"}, Path("/nonexistent"))
    with pytest.raises(NewsletterError) as caught:
        list(source.messages())
    text = str(caught.value)
    assert "refused the login of 'alice'" in text and "NEWSLETTER_IMAP_PASSWORD" in text
    assert "wrong" not in text and "\n" not in text


def test_a_pass_of_the_processor_moves_or_flags_each_message_once(
    server: Dovecot, tmp_path: Path
) -> None:
    """The whole way: the mailbox read, each message classified, stored and moved or flagged."""
    from datetime import UTC, datetime

    from newsletter.db import create_db_engine, database_url
    from newsletter.inbound import processor

    from .test_delivery import make_project

    project = make_project(tmp_path, "null:", bounce_address='"bounces@bounces.news.example.org"')
    engine = create_db_engine(database_url(project))
    server.empty("INBOX")
    autoreply = (
        b"From: a@x.test\r\nTo: weekly@news.example.org\r\nAuto-Submitted: auto-replied\r\n"
        b"Subject: Out of office\r\n\r\nAway\r\n"
    )
    server.append(autoreply)
    server.append(b"\xff\xfe junk, no header at all \x01")
    reports = []
    for _ in range(2):
        source = open_source(
            server.url(), {"NEWSLETTER_IMAP_PASSWORD": server.password}, project.root
        )
        try:
            reports.append(
                processor.process_source(
                    engine,
                    source,
                    settings=processor.InboundSettings.of(project),
                    now=datetime.now(UTC),
                )
            )
        finally:
            source.close()
    engine.dispose()
    assert (reports[0].processed, reports[0].kept) == (2, 1)
    assert reports[1].processed == 0  # Moved or flagged: nothing is read twice.
    assert set(_subjects(server, "Processed")) == {"Out of office"}
    [flags] = _subjects(server, "INBOX").values()  # The junk, kept for a human.
    assert b"\\Flagged" in flags


def test_newsletter_inbound_process_reads_an_imap_mailbox(server: Dovecot, tmp_path: Path) -> None:
    """The command an operator runs: a DSN, an ARF complaint and a mailto unsubscribe in a
    real IMAP mailbox, each acting on its subscriber in one pass; a second pass changes nothing."""
    from typer.testing import CliRunner

    from newsletter.cli import app

    from .test_inbound_commands import complaint, dsn, unsubscribe_request
    from .test_inbound_processor import SECRET, make_newsletter

    news = make_newsletter(tmp_path / "project")
    server.empty("INBOX")
    server.append(dsn(news, "ada@example.org"))
    server.append(complaint(news, "wei@example.cn"))
    server.append(unsubscribe_request(news, "jonas@example.de"))
    environment = {"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_IMAP_PASSWORD": server.password}
    command = ["--config", str(news.project.source), "inbound", "process", server.url()]
    for number in (1, 2):
        result = CliRunner().invoke(app, command, env=environment)
        assert result.exit_code == 0, result.output
        processed = 3 if number == 1 else 0
        assert f": {processed} processed" in result.output, result.output
    assert [news.subscriber(a).status for a in ("ada@example.org", "wei@example.cn")] == [
        "bounced",
        "complained",
    ]
    assert news.subscriber("jonas@example.de").status == "unsubscribed"
    assert len(_subjects(server, "Processed")) == 3
    with server.client("INBOX") as client:
        assert client.select("INBOX")[1] == [b"0"]
