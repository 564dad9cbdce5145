"""Idle delivery workers wake as soon as deliveries are queued (deliver/wakeup.py), on SQLite
and on PostgreSQL, instead of at their next poll."""

from __future__ import annotations

import multiprocessing
import os
import pwd
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text, update

from newsletter.config import Project
from newsletter.db import create_db_engine, utcnow
from newsletter.deliver import wakeup
from newsletter.deliver.audience import requeue_failed
from newsletter.deliver.halt import Halt
from newsletter.deliver.models import DELIVERY
from newsletter.deliver.outbox import claim, release, requeue_abandoned
from newsletter.deliver.sending import set_paused
from newsletter.deliver.wakeup import Doorbell, announce, doorbell
from newsletter.deliver.worker import Job
from newsletter.sends import load_issue, start_send
from newsletter.service.pool import _loop

from .conftest import SmtpServer
from .test_delivery import READERS, make_project, migrated
from .test_postgres import cluster, database  # noqa: F401 - the throwaway cluster
from .test_schedule import FIRST
from .test_service import wait_until

LONG = 60.0
"""An idle wait far longer than any test here waits: only the doorbell (or a halt) ends it."""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new database at this version's schema, SQLite then PostgreSQL."""
    if request.param == "sqlite":
        made = f"sqlite:///{tmp_path / 'news.db'}"
    else:
        made = request.getfixturevalue("database")
    migrated(made)
    return made


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    made = create_db_engine(url)
    yield made
    made.dispose()


@pytest.fixture
def bell(engine: Engine) -> Iterator[Doorbell]:
    """The doorbell of a worker process on `engine`'s database, made before the test acts."""
    made = doorbell(engine)
    yield made
    made.close()


@pytest.fixture
def halt() -> Halt:
    return Halt(multiprocessing.get_context("spawn"))


def waited(doorbell: Doorbell, halt: Halt, seconds: float) -> tuple[bool, float]:
    """What doorbell.wait returned, and after how many seconds."""
    start = time.monotonic()
    halted = doorbell.wait(halt, seconds)
    return halted, time.monotonic() - start


@pytest.fixture
def later(engine: Engine) -> Iterator[Callable[[float], None]]:
    """`later(seconds)`: a committed announcement from another thread in `seconds`; each is
    waited for at the end, before the engine goes (its connection with it)."""
    timers: list[threading.Timer] = []

    def start(seconds: float) -> None:
        timers.append(threading.Timer(seconds, queue_in_a_transaction, (engine,), {"commit": True}))
        timers[-1].start()

    yield start
    for timer in timers:
        timer.join()


def queue_in_a_transaction(engine: Engine, *, commit: bool) -> None:
    """A write that announces deliveries, committed or rolled back."""
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO tag (name) VALUES (:name)"), {"name": time.time()})
        announce(connection)
        connection.commit() if commit else connection.rollback()


def test_the_doorbell_rings_when_a_transaction_announces_deliveries(
    bell: Doorbell, halt: Halt, later: Callable[[float], None]
) -> None:
    assert waited(bell, halt, 0.3)[1] >= 0.3  # Nothing happened: the whole wait.
    later(0.3)
    halted, seconds = waited(bell, halt, LONG)
    assert not halted and seconds < 10
    halt.set()
    assert waited(bell, halt, LONG)[0]


def test_a_ring_while_the_worker_looks_for_work_is_not_missed(
    engine: Engine, bell: Doorbell, halt: Halt
) -> None:
    queue_in_a_transaction(engine, commit=True)  # After the doorbell, before the wait.
    halted, seconds = waited(bell, halt, LONG)
    assert not halted and seconds < 10
    assert waited(bell, halt, 0.3)[1] >= 0.3  # Heard once.


def test_a_commit_rings_even_when_the_connection_goes_on_to_another_transaction(
    engine: Engine, bell: Doorbell, halt: Halt
) -> None:
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO tag (name) VALUES ('queued')"))
        announce(connection)
        connection.commit()
        connection.execute(text("SELECT 1")).all()  # Rolled back as the connection closes.
    assert waited(bell, halt, LONG)[1] < 10


def test_a_rolled_back_announcement_or_an_unrelated_write_wakes_nobody(
    engine: Engine, bell: Doorbell, halt: Halt
) -> None:
    queue_in_a_transaction(engine, commit=False)
    with engine.begin() as connection:  # A click, a bounce: no deliveries queued.
        connection.execute(text("INSERT INTO tag (name) VALUES ('unrelated')"))
    assert waited(bell, halt, 1.0)[1] >= 1.0
    queue_in_a_transaction(engine, commit=True)
    assert waited(bell, halt, LONG)[1] < 10


def test_the_sqlite_doorbell_is_the_same_through_a_symbolic_link(
    tmp_path: Path, halt: Halt
) -> None:
    real = tmp_path / "data" / "news.db"
    real.parent.mkdir()
    migrated(f"sqlite:///{real}")
    (tmp_path / "link").symlink_to(real.parent)
    writer = create_db_engine(f"sqlite:///{tmp_path / 'link' / 'news.db'}")
    reader = create_db_engine(f"sqlite:///{real}")
    bell = doorbell(reader)
    try:
        queue_in_a_transaction(writer, commit=True)
        assert waited(bell, halt, LONG)[1] < 10
    finally:
        writer.dispose()
        reader.dispose()


def test_a_doorbell_whose_connection_is_cut_falls_back_to_polling_and_listens_again(
    database: str,  # noqa: F811
    halt: Halt,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    migrated(database)
    monkeypatch.setattr(wakeup, "RECONNECT", 0.0)
    engine = create_db_engine(database)
    bell = doorbell(engine)
    try:
        with engine.connect() as connection:  # What a server restart does to it.
            cut = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = current_database() AND query = 'LISTEN {wakeup.CHANNEL}'"
                )
            ).all()
        assert cut == [(True,)]
        halted, seconds = waited(bell, halt, 0.5)  # No error: the timed poll goes on.
        assert not halted and seconds >= 0.45
        # Listening again, it first asks for a look (what was queued meanwhile went unheard).
        assert waited(bell, halt, LONG)[1] < 10
        queue_in_a_transaction(engine, commit=True)
        halted, seconds = waited(bell, halt, LONG)  # And hears.
        assert not halted and seconds < 10
    finally:
        bell.close()
        engine.dispose()


@pytest.fixture
def project(url: str, tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return make_project(tmp_path, smtp_server.url + "?connections=1", database=url)


def test_an_idle_worker_starts_a_send_as_soon_as_it_is_queued(
    project: Project, engine: Engine, bell: Doorbell, smtp_server: SmtpServer, halt: Halt
) -> None:
    idle: list[float] = []

    def wait_for_work(seconds: float) -> bool:
        idle.append(seconds)
        return bell.wait(halt, LONG)

    worker = threading.Thread(
        target=_loop, args=(Job.of(project), engine, halt.is_set, halt.wait, wait_for_work)
    )
    worker.start()
    try:
        wait_until(lambda: bool(idle), 10, "the worker to wait for work")
        time.sleep(0.2)  # On the doorbell by now.
        start_send(project, engine, load_issue(project, FIRST), to=None, clock=utcnow)
        wait_until(lambda: len(smtp_server.received) == len(READERS), 10, "the send")
    finally:
        halt.set()
        worker.join(10)
    assert not worker.is_alive()


def test_every_way_deliveries_become_due_again_rings_the_doorbell(
    project: Project, engine: Engine, bell: Doorbell, halt: Halt
) -> None:
    mailing, _ = start_send(project, engine, load_issue(project, FIRST), to=None, clock=utcnow)
    assert mailing.id is not None
    assert waited(bell, halt, LONG)[1] < 10  # The send's own announcement.
    now = utcnow()

    def rings(what: str) -> None:
        assert waited(bell, halt, LONG)[1] < 10, what
        assert waited(bell, halt, 0.2)[1] >= 0.2, f"{what}: heard twice"

    taken = claim(engine, mailing.id, "here:1", limit=2, lease=60, now=now)
    release(engine, "here:1", [claimed.id for claimed in taken], now)
    rings("claims given back by a worker that stops")
    claim(engine, mailing.id, "there:1", limit=2, lease=60, now=now)
    assert requeue_abandoned(engine, mailing.id, now, alive=lambda _worker: False) == 2
    rings("the claims of a dead worker")
    set_paused(engine, mailing.id, now)
    set_paused(engine, mailing.id, None)
    rings("a paused send resumed")
    with engine.begin() as connection:
        connection.execute(update(DELIVERY).values(state="failed"))
    assert requeue_failed(engine, mailing.id, now) == len(READERS)
    rings("failed deliveries queued again")


def test_another_user_who_may_write_the_sqlite_doorbell_rings_it() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to ring as another user")
    nobody = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        database = folder / "news.db"
        database.write_bytes(b"")
        database.chmod(0o666)
        bell = Path(f"{database}-deliveries")
        wakeup.ring(bell)  # Made by root: the database's mode, whatever the umask.
        assert stat.S_IMODE(bell.stat().st_mode) == 0o666
        os.utime(bell, ns=(0, 0))
        child = os.fork()
        if child == 0:  # pragma: no cover - the child's own exit status is what counts.
            try:
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                wakeup.ring(bell)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        assert bell.stat().st_mtime_ns != 0  # Only the owner may set a time; anyone, now.
    finally:
        shutil.rmtree(folder)
