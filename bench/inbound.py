"""Benchmark processing bounces from a Maildir against a plain parse of the same messages.

    .venv/bin/python bench/inbound.py [--messages 10000] [--batch 100]

Makes a project with one subscriber per message (imported from a CSV), a sent mailing with a
delivery each (rows written directly), and a Maildir of RFC 3464 DSNs as Postfix writes them,
each delivered to its delivery's VERP return path: 60% hard (5.1.1), 20% soft (5.2.2, 4.4.7
given up on), 10% delayed, 10% policy (5.7.1). Then, in the same run:

- the reference: every message parsed with Python's `email` package (`message_from_bytes`,
  the default compat32 policy, and `policy.default`, which the standard library recommends),
  read from the same files;
- ours: `process_source` over the Maildir, as `newsletter inbound process` runs it: each file
  read, classified (inbound/classify.py), matched to its delivery, stored with the policy
  applied (subscribers bounced and suppressed, consent events), and renamed into .Processed/.

The goal (issue 14): ours at least half the reference's messages per second.
"""

from __future__ import annotations

import argparse
import mailbox
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from newsletter.config import load_project  # noqa: E402
from newsletter.db import create_db_engine, database_url  # noqa: E402
from newsletter.db_schema import upgrade  # noqa: E402
from newsletter.deliver.models import DELIVERY, MAILING  # noqa: E402
from newsletter.deliver.return_path import ReturnPaths  # noqa: E402
from newsletter.inbound.processor import InboundSettings, process_source  # noqa: E402
from newsletter.inbound.sources import open_source  # noqa: E402
from newsletter.subscribers.csv_import import import_csv  # noqa: E402
from newsletter.subscribers.models import SUBSCRIBER  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
BOUNCES = "bounces@bounces.news.example.org"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
OUTCOMES = [("failed", "5.1.1", "550 5.1.1 <{0}>: Recipient address rejected: User unknown")] * 6
OUTCOMES += [
    ("failed", "5.2.2", "552 5.2.2 <{0}>: Mailbox full"),
    ("failed", "4.4.7", "452 4.2.2 <{0}>: Over quota (gave up after 5 days)"),
    ("delayed", "4.4.1", "421 4.4.1 connection timed out"),
    ("failed", "5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering"),
]


def dsn(address: str, verp: str, message_id: str, number: int) -> bytes:
    """A DSN as Postfix writes it, delivered to `verp`, about `address`."""
    action, status, reply = OUTCOMES[number % len(OUTCOMES)]
    return (
        f"Return-Path: <>\r\nDelivered-To: {verp}\r\n"
        "Received: by relay.example.net (Postfix) id 4Xy7{number:06d}; Mon, 30 Nov 2026\r\n"
        f"Date: Mon, 30 Nov 2026 10:{number % 60:02d}:00 +0000 (UTC)\r\n"
        "From: MAILER-DAEMON@relay.example.net (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nTo: {verp}\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="B{number}"\r\n'
        f"Message-Id: <{number}.dsn@relay.example.net>\r\n\r\n"
        f"--B{number}\r\nContent-Description: Notification\r\nContent-Type: text/plain; "
        "charset=us-ascii\r\n\r\nThis is the mail system at host relay.example.net.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\nbe delivered to one "
        "or more recipients. It's attached below.\r\n\r\n"
        f"<{address}>: host mx.example.com[192.0.2.1] said: {reply.format(address)}\r\n\r\n"
        f"--B{number}\r\nContent-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example.net\r\nX-Postfix-Queue-ID: 4Xy7\r\n"
        f"X-Postfix-Sender: rfc822; {verp}\r\n"
        "Arrival-Date: Mon, 30 Nov 2026 10:00:00 +0000 (UTC)\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nOriginal-Recipient: rfc822;{address}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; mx.example.com\r\n"
        f"Diagnostic-Code: smtp; {reply.format(address)}\r\n\r\n"
        f"--B{number}\r\nContent-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{verp}>\r\nFrom: AI Weekly <weekly@news.example.org>\r\n"
        f"To: {address}\r\nSubject: AI Weekly: the week in research\r\n"
        f"Message-ID: {message_id}\r\nList-Id: AI Weekly <weekly.news.example.org>\r\n"
        f"\r\n--B{number}--\r\n"
    ).encode()


def make_project(root: Path, messages: int) -> tuple[Path, list[bytes]]:
    """The project (subscribers, a sent mailing) and the DSNs about its deliveries."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\ndatabase_url = "sqlite:///news.db"\n'
        f'bounce_address = "{BOUNCES}"\n',
        encoding="utf-8",
    )
    readers = root / "readers.csv"
    rows = [f"reader{n}@example.org,Reader {n},en" for n in range(messages)]
    readers.write_text("email,name,locale\n" + "\n".join(rows) + "\n", encoding="utf-8")
    project = load_project(root / "config" / "newsletter.toml", {"NEWSLETTER_SECRET_KEY": SECRET})
    engine = create_db_engine(database_url(project))
    upgrade(engine)
    import_csv(engine, readers, locales=["en"], default_locale="en", default_timezone="UTC")
    uid, paths, raw = "0f1e2d3c4b5a69788796a5b4c3d2e1f0", ReturnPaths(SECRET, BOUNCES), []
    with engine.begin() as connection:
        mailing = connection.execute(
            insert(MAILING).values(issue="bench", uid=uid, commit="", dirty=False, tag="",
                                   created_at=NOW).returning(MAILING.c.id)
        ).scalar_one()  # fmt: skip
        people = connection.execute(select(SUBSCRIBER.c.id, SUBSCRIBER.c.email)).all()
        for number, (subscriber, email) in enumerate(people):
            delivery = connection.execute(
                insert(DELIVERY).values(
                    mailing_id=mailing, subscriber_id=subscriber, locale="en", state="sent",
                    attempts=1, not_before=NOW, claimed_by="", reply="250 OK", message_id="",
                    queued_at=NOW, sent_at=NOW - timedelta(hours=1), updated_at=NOW,
                ).returning(DELIVERY.c.id)
            ).scalar_one()  # fmt: skip
            message_id = f"<{uid}.{delivery}@news.example.org>"
            raw.append(dsn(email, paths.for_delivery(delivery), message_id, number))
    engine.dispose()
    return root / "config" / "newsletter.toml", raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config, messages = make_project(root / "project", args.messages)
        box = mailbox.Maildir(root / "bounces", create=True)
        for message in messages:
            box.add(message)
        box.close()
        files = sorted((root / "bounces" / "new").iterdir())
        print(f"{len(files)} DSNs, {sum(f.stat().st_size for f in files) // len(files)} bytes each")

        start = time.perf_counter()
        for path in files:
            message_from_bytes(path.read_bytes())
        compat = len(files) / (time.perf_counter() - start)
        start = time.perf_counter()
        for path in files:
            message_from_bytes(path.read_bytes(), policy=policy.default)
        modern = len(files) / (time.perf_counter() - start)

        project = load_project(config, {"NEWSLETTER_SECRET_KEY": SECRET})
        engine = create_db_engine(database_url(project))
        source = open_source(f"maildir:{root / 'bounces'}", project.secrets, project.root)
        start = time.perf_counter()
        report = process_source(
            engine, source, settings=InboundSettings.of(project), now=NOW, batch=args.batch
        )
        ours = len(files) / (time.perf_counter() - start)
        engine.dispose()
        moved = len(list((root / "bounces" / ".Processed" / "cur").iterdir()))
        print(f"email.message_from_bytes (compat32):       {compat:8.0f} messages/s")
        print(f"email.message_from_bytes (policy.default): {modern:8.0f} messages/s")
        print(
            f"inbound process (read, match, store, move): {ours:7.0f} messages/s: "
            f"{ours / compat:.2f} x compat32, {ours / modern:.2f} x policy.default"
        )
        print(
            f"processed {report.processed}, matched {report.matched}, kept {report.kept}, "
            f"moved {moved}; kinds {dict(sorted(report.kinds.items()))}; "
            f"done {dict(sorted(report.actions.items()))}"
        )


if __name__ == "__main__":
    main()
