"""Sending an issue: the outbox, real SMTP servers on 127.0.0.1, the messages they receive."""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url
from newsletter.db_schema import upgrade
from newsletter.deliver.models import Delivery, Mailing, MailingEdition
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber, Suppression
from newsletter.web.app import create_app

from .conftest import ROOT, SmtpServer

SECRET = "test-secret-key-0123456789abcdef"
ISSUE = "2024-03-10-ai-revolution-accelerates"  # Editions: en, zh.
READERS = [
    ("ada@example.org", "Ada Lovelace", "en"),
    ("wei@example.cn", "张伟", "zh"),
    ("jonas@example.de", "Jonas Becker", "de"),  # No German edition: gets the English one.
    ("noor@example.org", "نور", "ar"),
]


def make_project(
    root: Path,
    transport_url: str,
    *,
    database: str = "sqlite:///news.db",
    readers: list[tuple[str, str, str]] = READERS,
    **settings: str,
) -> Project:
    """A project with the sample issues, a migrated database (SQLite unless `database` says
    otherwise) and `readers`: four of them in several languages unless told otherwise."""
    (root / "config").mkdir()
    extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
    (root / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\nreply_to = "editors@news.example.org"\n'
        'postal_address = "1 Main St"\nlocales = ["en", "zh", "de", "ar"]\n'
        f'database_url = "{database}"\ntransport_url = "{transport_url}"\n'
        f"retry_delay = 0.2\n{extra}",
        encoding="utf-8",
    )
    shutil.copytree(ROOT / "issues" / ISSUE, root / "issues" / ISSUE)
    project = load_project(root / "config" / "newsletter.toml", {"NEWSLETTER_SECRET_KEY": SECRET})
    migrated(database_url(project))
    for email, name, locale in readers:
        add_reader(project, email, name, locale)
    return project


@functools.cache
def _migrated_sqlite() -> Path:
    """An SQLite file that `db upgrade` made, once per test process (its folder removed when
    the process ends: each run made one more in /tmp)."""
    folder = tempfile.mkdtemp(prefix="newsletter-migrated-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "news.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # Its last connection closed: the whole database is in the file.
    return path


def migrated(url: str) -> None:
    """The database at `url` at this version's schema: a new SQLite file is a copy of one the
    migrations made (they take a tenth of a second, for hundreds of projects); any other
    database is upgraded."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        shutil.copyfile(_migrated_sqlite(), url.removeprefix("sqlite:///"))
        return
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()


def copy_of(template: Path, root: Path, transport_url: str = "") -> Project:
    """The project in `template`, copied to `root` (its SQLite file is in the folder), sending
    through `transport_url` if given."""
    shutil.copytree(template, root)
    source = root / "config" / "newsletter.toml"
    if transport_url:
        settings = re.sub(
            r"(?m)^transport_url = .*$",
            f'transport_url = "{transport_url}"',
            source.read_text("utf-8"),
        )
        source.write_text(settings, "utf-8")
    return load_project(source, {"NEWSLETTER_SECRET_KEY": SECRET})


def add_reader(
    project: Project, email: str, name: str = "", locale: str = "en", zone: str = "UTC"
) -> None:
    config = project.config
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        profile = registry.make_profile(
            email, name, locale, zone, [], config.locales, config.default_locale, "UTC"
        )
        registry.add(session, profile, status="active", method="test", source="test", now=_now())
        session.commit()
    engine.dispose()


def import_readers(project: Project, count: int, locales: tuple[str, ...] = ("en",)) -> None:
    """`count` generated readers (reader0@example.org...), their locales taken in turn,
    imported with `subscribers import` as a user would."""
    readers = project.root / "readers.csv"
    rows = [f"reader{n}@example.org,Reader {n},{locales[n % len(locales)]}" for n in range(count)]
    readers.write_text("email,name,locale\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert newsletter(project, "subscribers", "import", str(readers))[0] == 0


def _now():  # type: ignore[no-untyped-def]
    from newsletter.db import utcnow

    return utcnow()


def newsletter(
    project: Project, *args: str, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """A command on `project` with the test's secret key and `env`: (exit status, output)."""
    result = CliRunner().invoke(
        app,
        ["--config", str(project.source), *args],
        env={"NEWSLETTER_SECRET_KEY": SECRET, **(env or {})},
    )
    return result.exit_code, result.output


def deliveries(project: Project) -> list[tuple[str, Delivery]]:
    """(subscriber address, delivery) of every delivery, in order."""
    with Session(create_db_engine(database_url(project))) as session:
        query = select(Subscriber.email, Delivery).join(Subscriber).order_by(Delivery.id)  # type: ignore[arg-type]
        return [(email, delivery) for email, delivery in session.exec(query)]


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return make_project(tmp_path, f"{smtp_server.url}?connections=1")


def test_every_reader_gets_one_message_in_their_language(
    project: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    assert "4 recipients added" in output
    by_reader = {received.recipients[0]: received for received in smtp_server.received}
    assert sorted(by_reader) == sorted(email for email, _, _ in READERS)
    assert len(smtp_server.received) == 4
    languages = {email: parsed(r.data)["Content-Language"] for email, r in by_reader.items()}
    assert languages == {
        "ada@example.org": "en",
        "wei@example.cn": "zh",
        "jonas@example.de": "en",
        "noor@example.org": "en",
    }
    chinese = parsed(by_reader["wei@example.cn"].data)
    assert chinese["To"] == "张伟 <wei@example.cn>"
    with Session(create_db_engine(database_url(project))) as session:
        subjects = {e.locale: e.subject for e in session.exec(select(MailingEdition))}
    assert chinese["Subject"] == subjects["zh"] and not subjects["zh"].isascii()
    wire = by_reader["wei@example.cn"].data
    assert wire.isascii() and re.search(rb"\r\nSubject: [^\r]*=\?utf-8\?", wire)  # RFC 2047
    html = chinese.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<html lang="zh"' in html and "%%nl_" not in html

    # Sending again adds nobody and sends nothing.
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0 and "0 recipients added" in output
    assert len(smtp_server.received) == 4
    states = Counter(delivery.state for _, delivery in deliveries(project))
    assert states == {"sent": 4}


def test_messages_have_the_expected_mime_tree_and_headers(
    project: Project, smtp_server: SmtpServer
) -> None:
    assert newsletter(project, "send", ISSUE)[0] == 0
    received = next(r for r in smtp_server.received if r.recipients == ["ada@example.org"])
    assert received.sender == "weekly@news.example.org"
    message = parsed(received.data)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert message["From"] == "AI Weekly <weekly@news.example.org>"
    assert message["Reply-To"] == "editors@news.example.org"
    assert message["To"] == "Ada Lovelace <ada@example.org>"
    assert message["List-Id"] == "AI Weekly <ai-weekly.news.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"].datetime.tzinfo is not None
    stored = dict(deliveries(project))["ada@example.org"]
    assert message["Message-ID"] == stored.message_id
    assert re.fullmatch(r"<[0-9a-f]{16}\.\d+@news\.example\.org>", stored.message_id)
    links = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert links[0].startswith("https://news.example.org/unsubscribe/")
    assert links[1].startswith("mailto:editors@news.example.org?subject=unsubscribe%20")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert links[0] in text and links[0] in html
    assert "https://news.example.org/preferences/" in html
    for line in received.data.split(b"\r\n"):
        assert len(line) <= 998 and not line.startswith(b".")


def test_the_unsubscribe_link_and_one_click_header_work_against_the_web_app(
    project: Project, smtp_server: SmtpServer
) -> None:
    assert newsletter(project, "send", ISSUE)[0] == 0
    client = TestClient(create_app(project))
    by_reader = {r.recipients[0]: parsed(r.data) for r in smtp_server.received}

    header_link = re.findall(
        r"<(https://[^>]+)>", by_reader["ada@example.org"]["List-Unsubscribe"]
    )[0]
    path = header_link.removeprefix("https://news.example.org")
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200

    html = by_reader["wei@example.cn"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    body_link = re.search(r'href="https://news\.example\.org(/unsubscribe/[^"]+)"', html)
    assert body_link
    page = client.get(body_link.group(1))
    assert page.status_code == 200
    with Session(create_db_engine(database_url(project))) as session:
        statuses = {s.email: s.status for s in session.exec(select(Subscriber))}
    assert statuses["ada@example.org"] == "unsubscribed"


def test_deferred_recipients_are_retried_and_delivered(
    project: Project, smtp_server: SmtpServer
) -> None:
    smtp_server.recorder.next_replies["ada@example.org"] = ["451 4.7.1 greylisted, try later"]
    smtp_server.recorder.next_replies["wei@example.cn"] = [
        "421 4.3.2 too busy, closing",
        "451 4.3.0 try again",
    ]
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    received = Counter(r.recipients[0] for r in smtp_server.received)
    assert received == {email: 1 for email, _, _ in READERS}
    attempts = {email: (d.state, d.attempts) for email, d in deliveries(project)}
    assert attempts["ada@example.org"] == ("sent", 2)
    assert attempts["wei@example.cn"] == ("sent", 3)
    assert attempts["jonas@example.de"] == ("sent", 1)


def test_rejections_fail_and_hard_bounces_suppress(
    project: Project, smtp_server: SmtpServer
) -> None:
    smtp_server.recorder.replies["jonas@example.de"] = "550 mailbox unavailable"
    smtp_server.recorder.replies["noor@example.org"] = "550 5.1.1 <noor@example.org>: no such user"
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    assert "failed: jonas@example.de (en, 1 attempts): 550 mailbox unavailable" in output
    rows = dict(deliveries(project))
    assert rows["jonas@example.de"].state == rows["noor@example.org"].state == "failed"
    assert rows["noor@example.org"].reply.startswith("550 5.1.1")
    with Session(create_db_engine(database_url(project))) as session:
        statuses = {s.email: s.status for s in session.exec(select(Subscriber))}
        suppressed = session.exec(select(Suppression)).all()
    assert statuses["noor@example.org"] == "bounced"
    assert statuses["jonas@example.de"] == "active"  # 5.x.x other than 5.1.x: not a bounce.
    assert [s.reason for s in suppressed] == ["bounced"]

    code, output = newsletter(project, "status", ISSUE)
    assert code == 0
    assert "noor@example.org (en, 1 attempts): 550 5.1.1" in output

    # The server takes Jonas now: --only-failed sends to him, never to the bounced address.
    smtp_server.recorder.replies.clear()
    code, output = newsletter(project, "send", ISSUE, "--only-failed")
    assert code == 0, output
    assert "1 failed deliveries queued again" in output
    received = Counter(r.recipients[0] for r in smtp_server.received)
    assert received == {"ada@example.org": 1, "wei@example.cn": 1, "jonas@example.de": 1}


def test_test_sends_reach_any_address_and_touch_no_outbox(
    project: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(project, "send", ISSUE, "--test", "editor@example.net")
    assert code == 0, output
    assert [r.recipients for r in smtp_server.received] == [["editor@example.net"]] * 2
    subjects = [parsed(r.data)["Subject"] for r in smtp_server.received]
    assert all(subject.startswith("[TEST] ") for subject in subjects)
    assert {parsed(r.data)["Content-Language"] for r in smtp_server.received} == {"en", "zh"}
    first = parsed(smtp_server.received[0].data).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "editor@example.net" in first and "https://news.example.org/unsubscribe/preview" in first

    code, output = newsletter(project, "send", ISSUE, "--test", "e@example.net", "--locale", "zh")
    assert code == 0 and len(smtp_server.received) == 3
    assert parsed(smtp_server.received[-1].data)["Content-Language"] == "zh"
    assert deliveries(project) == []
    with Session(create_db_engine(database_url(project))) as session:
        assert session.exec(select(Mailing)).all() == []

    code, output = newsletter(project, "send", ISSUE, "--test", "not an address")
    assert code == 1 and "--test 'not an address'" in output


def test_a_dry_run_counts_readers_per_edition_and_writes_nothing(
    project: Project, smtp_server: SmtpServer
) -> None:
    code, output = newsletter(project, "send", ISSUE, "--dry-run")
    assert code == 0, output
    assert re.search(r"│ en\s+│ 3 ", output) and re.search(r"│ zh\s+│ 1 ", output)
    assert "4 recipients; nothing was sent or written" in output
    assert smtp_server.received == [] and deliveries(project) == []


def test_resume_and_only_failed_need_an_earlier_send(project: Project) -> None:
    code, output = newsletter(project, "send", ISSUE, "--resume")
    assert code == 1 and f"issue {ISSUE} has not been sent yet" in output
    code, output = newsletter(project, "status", ISSUE)
    assert code == 1 and f"issue {ISSUE} has not been sent" in output


@pytest.mark.parametrize("connections", [1, 3])  # In this process; in three worker processes.
def test_an_unreachable_server_is_an_error_and_every_delivery_stays_queued(
    tmp_path: Path, connections: int
) -> None:
    project = make_project(tmp_path, f"smtp://127.0.0.1:9?connections={connections}")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 1
    assert "error: cannot connect to the SMTP server 127.0.0.1:9" in output
    assert "Traceback" not in output
    assert [(d.state, d.attempts) for _, d in deliveries(project)] == [("queued", 0)] * 4


def test_eml_export_writes_each_message_once_as_it_would_be_sent(tmp_path: Path) -> None:
    project = make_project(tmp_path, "eml:outbox")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 4
    ids = {d.message_id.strip("<>") + ".eml" for _, d in deliveries(project)}
    assert {f.name for f in files} == ids
    message = parsed(files[0].read_bytes())
    assert message.get_content_type() == "multipart/alternative"


def test_a_missing_secret_key_stops_the_send_before_anyone_is_queued(
    project: Project,
) -> None:
    result = CliRunner().invoke(
        app, ["--config", str(project.source), "send", ISSUE], env={"NEWSLETTER_SECRET_KEY": ""}
    )
    assert result.exit_code == 1 and "NEWSLETTER_SECRET_KEY" in result.output
    assert deliveries(project) == []


def test_personal_data_lists_deliveries_and_forgetting_leaves_no_address(
    project: Project, smtp_server: SmtpServer
) -> None:
    smtp_server.recorder.replies["ada@example.org"] = "550 5.7.1 rejected"
    assert newsletter(project, "send", ISSUE)[0] == 0
    code, output = newsletter(project, "subscribers", "show", "ada@example.org", "--json")
    assert code == 0
    sent = json.loads(output)["deliveries"]
    assert [(d["issue"], d["state"], d["attempts"]) for d in sent] == [(ISSUE, "failed", 1)]

    code, output = newsletter(project, "subscribers", "forget", "ada@example.org", "--yes")
    assert code == 0, output
    with Session(create_db_engine(database_url(project))) as session:
        rows = session.exec(select(Delivery)).all()
    assert len(rows) == 4 and sum(row.subscriber_id is None for row in rows) == 1
    code, output = newsletter(project, "status", ISSUE)
    assert "failed: (forgotten) (en, 1 attempts): 550 5.7.1 rejected" in output
    assert "ada@example.org" not in output


def test_a_server_error_after_the_data_does_not_spoil_the_next_message(
    project: Project, smtp_server: SmtpServer
) -> None:
    smtp_server.recorder.broken_data.add("ada@example.org")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    states = {email: (d.state, d.reply[:9]) for email, d in deliveries(project)}
    assert states.pop("ada@example.org") == ("failed", "500 Error")
    assert set(states.values()) == {("sent", "250 OK: q")}


def test_two_connections_in_two_processes_deliver_each_message_once(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, f"{smtp_server.url}?connections=2")
    for n in range(60):
        add_reader(project, f"reader{n}@example.org", f"Reader {n}", "zh" if n % 3 else "en")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    received = Counter(r.recipients[0] for r in smtp_server.received)
    assert len(received) == 64 and set(received.values()) == {1}
    assert {d.state for _, d in deliveries(project)} == {"sent"}


def test_an_expired_claim_goes_back_to_the_queue_and_its_late_outcome_is_ignored(
    project: Project,
) -> None:
    from datetime import timedelta

    from newsletter.db import utcnow
    from newsletter.deliver.compose import Content
    from newsletter.deliver.outbox import Result as Outcome
    from newsletter.deliver.outbox import RetryPolicy, claim, record, requeue_abandoned
    from newsletter.deliver.sending import start_mailing

    # A mailing with one English edition, made directly (no transport involved).
    engine = create_db_engine(database_url(project))
    content = Content("en", "Subject", "<p>%%nl_name%%</p>", "%%nl_name%%", "https://x/en/")
    mailing, added = start_mailing(
        engine, ISSUE, [content], commit="", dirty=False, to=None, default_locale="en",
        now=utcnow(),
    )  # fmt: skip
    assert added == 4 and mailing.id is not None
    now = utcnow()
    held = claim(engine, mailing.id, "otherhost:1", limit=10, lease=60, now=now)
    assert len(held) == 4
    # A worker on another host: only the end of its lease frees its claims.
    assert requeue_abandoned(engine, mailing.id, now + timedelta(seconds=30)) == 0
    assert requeue_abandoned(engine, mailing.id, now + timedelta(seconds=61)) == 4
    retaken = claim(engine, mailing.id, "thishost:2", limit=10, lease=60, now=now)
    assert len(retaken) == 4
    # The first worker's outcomes arrive late: they must not overwrite the new claims.
    late = [Outcome(c.id, c.attempts, "sent", "250 ok") for c in held]
    record(engine, mailing.id, "otherhost:1", late, RetryPolicy(1, 3), utcnow(), lease=60)
    assert [d.state for _, d in deliveries(project)] == ["sending"] * 4


def test_mbox_export_holds_one_message_per_reader(tmp_path: Path) -> None:
    import mailbox

    project = make_project(tmp_path, "mbox:export/issue.mbox")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    box = mailbox.mbox(tmp_path / "export" / "issue.mbox")
    recipients = sorted(str(message["To"]).rpartition("<")[2].rstrip(">") for message in box)
    box.close()
    assert recipients == sorted(email for email, _, _ in READERS)
