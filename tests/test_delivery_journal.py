"""The delivery journal: each worker's outcomes on disk until recorded, replayed after a crash.

Real SQLite files, real journal files, real SMTP servers on 127.0.0.1; the "dead" workers are
the process ids of processes that ran and ended.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.compose import Content
from newsletter.deliver.journal import (
    Journal,
    journal_folder,
    journal_path,
    journals,
    read_journal,
    recover_abandoned,
)
from newsletter.deliver.models import DELIVERY, Delivery
from newsletter.deliver.outbox import Result, RetryPolicy, claim, worker_name
from newsletter.deliver.sending import start_mailing
from newsletter.deliver.worker import RECORD_EVERY
from newsletter.subscribers.models import SUBSCRIBER, Subscriber

from .test_delivery import (
    ISSUE,
    SECRET,
    deliveries,
    import_readers,
    make_project,
    newsletter,
)
from .test_smtp import OK, Script, _serve

POLICY = RetryPolicy(60.0, 3)


def dead_worker() -> str:
    """The claim owner name of a process of this host that has ended."""
    probe = subprocess.Popen(["true"])
    probe.wait()
    return f"{socket.gethostname()}:{probe.pid}"


class Outbox:
    """A project whose mailing has four deliveries, claimed by a worker of this host."""

    def __init__(self, root: Path, worker: str) -> None:
        self.project = make_project(root, "null:")
        self.engine = create_db_engine(database_url(self.project))
        content = Content("en", "Subject", "<p>hi</p>", "hi", "https://news.example.org/en/")
        mailing, added = start_mailing(
            self.engine, ISSUE, [content], commit="", dirty=False, to=None,
            default_locale="en", now=utcnow(),
        )  # fmt: skip
        assert added == 4 and mailing.id is not None
        self.mailing_id = mailing.id
        self.worker = worker
        self.claimed = claim(self.engine, mailing.id, worker, limit=10, lease=300, now=utcnow())
        self.folder = journal_folder(self.project.root, self.project.config)

    def journal(self, *results: Result, tail: bytes = b"") -> Path:
        """The worker's journal holding `results`, then `tail` (a line cut short)."""
        journal = Journal(self.folder, self.mailing_id, self.worker)
        journal.open()
        for result in results:
            journal.append(result)
        journal.close(remove=False)
        with journal.path.open("ab") as file:
            file.write(tail)
        return journal.path

    def recover(self, now: datetime | None = None) -> int:
        return recover_abandoned(self.engine, self.folder, self.mailing_id, POLICY, now or utcnow())

    def rows(self) -> list[tuple[int, str, str, str, int, str]]:
        with Session(self.engine) as session:
            return [
                (d.id or 0, d.state, d.claimed_by, d.reply, d.attempts, d.message_id)
                for d in session.exec(select(Delivery).order_by(col(Delivery.id)))
            ]

    def statuses(self) -> dict[str, str]:
        with Session(self.engine) as session:
            return {s.email: s.status for s in session.exec(select(Subscriber))}

    def address_of(self, delivery_id: int) -> str:
        with Session(self.engine) as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None and delivery.subscriber_id is not None
            subscriber = session.get(Subscriber, delivery.subscriber_id)
            assert subscriber is not None
            return subscriber.email


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    made = Outbox(tmp_path, dead_worker())
    yield made
    made.engine.dispose()


def sent(delivery_id: int, attempts: int = 0, suppress: bool = False) -> Result:
    if suppress:
        return Result(delivery_id, attempts, "failed", "550 5.1.1 no such user", "<m>", True)
    return Result(delivery_id, attempts, "sent", "250 OK", f"<m{delivery_id}@x>")


def test_a_dead_workers_journal_is_recorded_then_its_other_claims_are_queued(
    outbox: Outbox,
) -> None:
    first, second, third, fourth = (c.id for c in outbox.claimed)
    # The third message's line was cut by the kill: its fate is unknown.
    path = outbox.journal(sent(first), sent(second), tail=b'[%d,0,"sent","250' % third)
    assert outbox.recover() == 2  # The third and the fourth go back to the queue.
    assert not path.exists()
    states = {id_: (state, owner, reply) for id_, state, owner, reply, _, _ in outbox.rows()}
    assert states == {
        first: ("sent", "", "250 OK"),
        second: ("sent", "", "250 OK"),
        third: ("queued", "", ""),
        fourth: ("queued", "", ""),
    }


def test_replaying_a_journal_again_changes_nothing(outbox: Outbox) -> None:
    first, second, *_ = (c.id for c in outbox.claimed)
    bounced = outbox.address_of(second)
    entries = (sent(first), sent(second, suppress=True))
    outbox.journal(*entries)
    outbox.recover()
    after_once, statuses = outbox.rows(), outbox.statuses()
    assert statuses[bounced] == "bounced"
    with outbox.engine.begin() as connection:  # The reader subscribes again after the bounce.
        connection.execute(
            update(SUBSCRIBER).where(SUBSCRIBER.c.email == bounced).values(status="active")
        )
    # Killed between a record and the clearing of its journal: the same lines are read again.
    outbox.journal(*entries)
    assert outbox.recover() == 0
    assert outbox.rows() == after_once
    assert outbox.statuses()[bounced] == "active"  # Not suppressed a second time.


def test_a_hard_bounce_suppresses_only_where_the_claim_was_still_held(outbox: Outbox) -> None:
    held, taken, *_ = (c.id for c in outbox.claimed)
    # The second delivery's claim went to another worker (the lease ended): not ours to record.
    with outbox.engine.begin() as connection:
        connection.execute(
            update(DELIVERY).where(DELIVERY.c.id == taken).values(claimed_by="otherhost:7")
        )
    outbox.journal(sent(held, suppress=True), sent(taken, suppress=True))
    outbox.recover()
    statuses = outbox.statuses()
    assert statuses[outbox.address_of(held)] == "bounced"
    assert statuses[outbox.address_of(taken)] == "active"
    row = next(r for r in outbox.rows() if r[0] == taken)
    assert row[1:3] == ("sending", "otherhost:7")


def test_the_journal_of_a_live_worker_is_not_touched(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, worker_name())  # This process: alive.
    first = outbox.claimed[0].id
    path = outbox.journal(sent(first))
    before = path.read_bytes()
    assert outbox.recover() == 0
    assert path.read_bytes() == before
    assert {state for _, state, *_ in outbox.rows()} == {"sending"}
    outbox.engine.dispose()


def test_a_worker_that_dies_while_journals_are_read_keeps_its_claims_until_its_own_is_read(
    outbox: Outbox,
) -> None:
    path = outbox.journal(sent(outbox.claimed[0].id))
    asked: list[str] = []

    def alive(worker: str) -> bool:
        # The process was still running when the journals were read, and gone right after.
        asked.append(worker)
        return len(asked) == 1

    now = utcnow()
    assert (
        recover_abandoned(outbox.engine, outbox.folder, outbox.mailing_id, POLICY, now, alive) == 0
    )
    assert path.exists() and {row[1] for row in outbox.rows()} == {"sending"}
    assert asked == [outbox.worker, outbox.worker]
    assert outbox.recover() == 3 and not path.exists()  # Next time: recorded, then requeued.
    assert [row[1] for row in outbox.rows()] == ["sent", "queued", "queued", "queued"]


def test_a_line_that_is_no_outcome_is_left_out_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "mailing-1-host-2.journal"
    path.write_bytes(
        b'[1,0,"sent","250 OK","<a@x>",false]\n'
        b'[2,0,"queued","250 OK","<b@x>",false]\n'  # Not an outcome.
        b"not json\n"
        b'[3,1,"deferred","451 later","<c@x>",false]\n'
    )
    assert [r.id for r in read_journal(path)] == [1, 3]
    assert [record.message.split(":")[1] for record in caplog.records] == ["2", "3"]


def test_a_journal_names_its_mailing_and_worker_and_stays_in_its_folder(tmp_path: Path) -> None:
    path = journal_path(tmp_path, 12, "../../etc/passwd host:345")
    assert path.parent == tmp_path and "/" not in path.name
    path.touch()
    (tmp_path / "notes.txt").touch()
    assert list(journals(tmp_path)) == [(path, 12, "../../etc/passwd host:345")]


def test_a_journal_folder_that_cannot_be_made_stops_the_send_in_one_line(tmp_path: Path) -> None:
    project = make_project(tmp_path, "null:", journal_dir='"config/newsletter.toml/journal"')
    code, output = newsletter(project, "send", ISSUE)
    assert code != 0
    lines = output.strip().splitlines()
    assert lines[-2].startswith("error: cannot make the delivery journal folder ")
    assert "config/newsletter.toml/journal" in lines[-2]
    assert lines[-1].startswith("  fix: make that folder writable") and "journal_dir" in lines[-1]
    assert "Traceback" not in output
    assert {delivery.state for _, delivery in deliveries(project)} == {"queued"}
    # `newsletter run` stops the same way, before it starts a worker.
    ran = subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", str(project.source), "run", "--no-web"],
        env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 1 and ran.stderr.splitlines() == lines[-2:]


def test_an_empty_journal_dir_is_refused_when_the_configuration_loads(tmp_path: Path) -> None:
    project = make_project(tmp_path, "null:")
    source = project.source
    assert source is not None
    source.write_text(source.read_text("utf-8") + 'journal_dir = "."\n', "utf-8")
    code, output = newsletter(project, "send", ISSUE)
    assert code != 0 and "Traceback" not in output
    assert 'journal_dir: must be a folder of its own, such as ".newsletter/journal"' in output


def test_each_outcome_is_journaled_before_the_next_message_goes_out(tmp_path: Path) -> None:
    # A pipelining server: each message's data arrives behind the envelope of the next one.
    # When a message's data is complete, the previous message's outcome must be in the journal.
    seen: list[tuple[int, list[str]]] = []

    def answer(number: int, command: str) -> str:
        if command == "END":
            (path,) = (tmp_path / ".newsletter" / "journal").iterdir()
            seen.append((len(script.messages), [r.message_id for r in read_journal(path)]))
        return OK[command]

    script = Script(answer)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        threading.Thread(target=_serve, args=(script, listener), daemon=True).start()
        port = listener.getsockname()[1]
        project = make_project(tmp_path, f"smtp://127.0.0.1:{port}?connections=1")
        import_readers(project, 2 * RECORD_EVERY + 10 - 4)
        code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    assert len(script.messages) == 2 * RECORD_EVERY + 10
    ids = [message_from_bytes(data)["Message-ID"] for data in script.messages]
    for count, journaled in seen:
        # Every outcome since the last record, up to the message before this one.
        since = (count - 1) // RECORD_EVERY * RECORD_EVERY
        assert journaled == ids[since : count - 1], count
    assert list((tmp_path / ".newsletter" / "journal").iterdir()) == []  # Removed at the end.
