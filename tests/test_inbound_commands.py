"""`newsletter inbound process` and `classify` on real messages: a DSN, an ARF complaint, a
mailto unsubscribe, read by inbound/classify.py, through the command line."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsletter.subscribers.tokens import Tokens

from .conftest import ROOT
from .test_inbound_cli import newsletter
from .test_inbound_crash import stored
from .test_inbound_processor import READERS, SECRET, Newsletter, make_newsletter
from .test_inbound_sources import files, make_maildir


@pytest.fixture
def news(tmp_path: Path) -> Newsletter:
    return make_newsletter(tmp_path / "project")


def dsn(news: Newsletter, address: str, *, verp: str = "", status: str = "5.1.1") -> bytes:
    """A Postfix DSN (RFC 3464) for `address`'s delivery, delivered to its return path."""
    delivery = news.deliveries[address, 1]
    verp = verp or news.verp(address)
    code = "550" if status.startswith("5") else "452"
    return (
        f"Return-Path: <>\r\nDelivered-To: {verp}\r\n"
        "From: MAILER-DAEMON@relay.example.net (Mail Delivery System)\r\n"
        f"To: {verp}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{delivery.id}.dsn@relay.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your "
        "message could not be delivered.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nOriginal-Recipient: rfc822;{address}\r\n"
        f"Action: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {code} {status} <{address}>: Recipient address rejected\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: AI Weekly <weekly@news.example.org>\r\nTo: {address}\r\n"
        f"Message-ID: {delivery.message_id}\r\nSubject: AI Weekly\r\n\r\n--B--\r\n"
    ).encode()


def complaint(news: Newsletter, address: str) -> bytes:
    """An ARF feedback report (RFC 5965) about `address`'s delivery, with its original."""
    delivery = news.deliveries[address, 1]
    return (
        "From: feedback@fbl.example.net\r\nTo: bounces@bounces.news.example.org\r\n"
        "Subject: FW: AI Weekly\r\nMessage-ID: <arf.1@fbl.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        f"User-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: {address}\r\n\r\n"
        f"--F\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path: <{news.verp(address)}>\r\n"
        f"From: AI Weekly <weekly@news.example.org>\r\nTo: {address}\r\n"
        f"Message-ID: {delivery.message_id}\r\nSubject: AI Weekly\r\n\r\nHello\r\n\r\n--F--\r\n"
    ).encode()


def unsubscribe_request(news: Newsletter, address: str) -> bytes:
    """What a mail program sends to the List-Unsubscribe mailto address."""
    token = Tokens(SECRET).make_for("unsubscribe", news.subscribers[address], address)
    return (
        f"From: {address}\r\nTo: unsubscribe@news.example.org\r\n"
        f"Subject: unsubscribe {token}\r\nMessage-ID: <u.1@example.org>\r\n\r\n\r\n"
    ).encode()


def test_a_dsn_in_a_maildir_bounces_its_subscriber_once(news: Newsletter, tmp_path: Path) -> None:
    inbox = make_maildir(news.project.root / "bounces", [dsn(news, "ada@example.org")])
    code, output = newsletter(news, "process", "maildir:bounces")
    assert code == 0, output
    assert f"maildir:{inbox}: 1 processed, 0 duplicates (processed before), 0 kept" in output
    assert "notices: 1 matched, 0 unmatched; hard 1" in output and "suppressed 1" in output
    assert news.subscriber("ada@example.org").status == "bounced"
    assert len(files(inbox / ".Processed" / "cur")) == 1
    code, output = newsletter(news, "process", "maildir:bounces")
    assert code == 0 and ": 0 processed" in output and len(news.events()) == 1


def test_a_complaint_and_a_mailto_unsubscribe_remove_their_subscribers_in_one_pass(
    news: Newsletter,
) -> None:
    path = news.project.root / "inbox.mbox"
    box = mailbox.mbox(path)
    box.add(complaint(news, "wei@example.cn"))
    box.add(unsubscribe_request(news, "jonas@example.de"))
    box.close()
    code, output = newsletter(news, "process", "mbox:inbox.mbox")
    assert code == 0 and "2 processed" in output, output
    assert news.subscriber("wei@example.cn").status == "complained"
    assert news.suppressed("wei@example.cn") == "complained"
    assert news.subscriber("jonas@example.de").status == "unsubscribed"
    # Processing the same mailbox again changes nothing.
    code, output = newsletter(news, "process", "mbox:inbox.mbox")
    assert code == 0 and "0 processed, 2 duplicates" in output
    assert len(news.events()) == 2


def test_classify_says_what_a_message_is_and_changes_nothing(
    news: Newsletter, tmp_path: Path
) -> None:
    bounce, forged = tmp_path / "bounce.eml", tmp_path / "forged.eml"
    bounce.write_bytes(dsn(news, "ada@example.org", status="5.2.2"))
    verp = news.verp("wei@example.cn")
    forged.write_bytes(dsn(news, "wei@example.cn", verp=verp.replace("+", "+1")))
    code, output = newsletter(news, "classify", str(bounce), str(forged), "--json")
    assert code == 0, output
    first, second = json.loads(output)
    delivery = news.deliveries["ada@example.org", 1]
    assert first["file"] == str(bounce)
    assert (first["kind"], first["status"], first["recipient"]) == (
        "soft", "5.2.2", "ada@example.org",
    )  # fmt: skip
    assert first["delivery"] == {
        "id": delivery.id, "issue": "issue-1", "locale": "en", "subscriber": "ada@example.org",
        "state": "sent",
    }  # fmt: skip
    assert first["matched_by"] == "verp" and not first["processed_before"]
    assert second["delivery"] is None and "forged" in second["reason"]
    code, text = newsletter(news, "classify", str(forged))
    assert code == 0 and "hard 5.1.1 wei@example.cn -> no delivery: forged return path" in text
    assert news.events() == [] and {news.subscriber(a).status for a in READERS} == {"active"}


def test_kill_9_of_inbound_process_then_run_again_processes_every_message_once(
    news: Newsletter,
) -> None:
    messages = [
        dsn(news, READERS[n % len(READERS)]).replace(
            b"Subject: Undelivered", f"X-N: {n}\r\nSubject: Undelivered".encode()
        )
        for n in range(300)
    ]
    inbox = make_maildir(news.project.root / "bounces", messages)
    command = [sys.executable, "-m", "newsletter", "--config", str(news.project.source)]
    command += ["inbound", "process", "maildir:bounces"]
    env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
    runner = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while stored(news, "inbound_message") == 0:
        assert runner.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    assert stored(news, "inbound_message") < 300, "the pass ended before it could be killed"
    assert subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0
    assert stored(news, "inbound_message") == stored(news, "inbound_event") == 300
    assert files(inbox / "new") == [] and files(inbox / "cur") == []
    assert len(files(inbox / ".Processed" / "cur")) == 300
