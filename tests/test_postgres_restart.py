"""A send through a restart of its PostgreSQL server (an upgrade, a failover, a crash): the
workers wait for the database, record what they sent once it is back, and go on; nobody is
lost and nobody gets the issue twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from newsletter.config import Project
from newsletter.db import create_db_engine
from newsletter.deliver.models import DELIVERY
from newsletter.errors import DatabaseGone
from newsletter.schedule.firing import Firer, complete_interrupted, fire, firings
from newsletter.web.app import create_app

from .conftest import POSTGRES_BIN, SmtpServer, as_postgres, web_server
from .mailservers import free_port
from .test_delivery import READERS, make_project, newsletter
from .test_delivery_crash import send_in_background
from .test_schedule import FIRST, mark_ready, the_job

RECIPIENTS = 1200
RESTART_AFTER = 200  # Messages received before the server restarts.


@pytest.fixture
def restartable() -> Iterator[tuple[str, Callable[[str], object]]]:
    """A cluster of this test's own (the session's serves every other test): the URL of its
    database, and what runs `pg_ctl ACTION` on it as a service manager would (`-m fast`:
    every session is cut)."""
    assert POSTGRES_BIN is not None, "PostgreSQL is not installed: run `make test`"
    folder = Path(tempfile.mkdtemp(prefix="newsletter-restart-"))
    shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    as_postgres(str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-k {folder} -h '' -c fsync=off -c full_page_writes=off"
    pg_ctl = [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w"]

    def control(action: str) -> object:
        return as_postgres(*pg_ctl, "-o", options, "-m", "fast", action)

    control("start")
    try:
        as_postgres(str(POSTGRES_BIN / "createdb"), "-h", str(folder), "news")
        yield f"postgresql+psycopg://postgres@/news?host={folder}", control
    finally:
        as_postgres(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_send_goes_through_a_restart_of_its_database_without_loss_or_repeat(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, Callable[[str], object]]
) -> None:
    url, control = restartable
    # Paced, so that the restart comes with most of the send still to go.
    _, sender = send_in_background(
        tmp_path, smtp_server, RECIPIENTS, RESTART_AFTER, database=url, rate="400",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    control("restart")
    output, _ = sender.communicate(timeout=120)
    assert sender.returncode == 0, output.decode(errors="replace")[-2000:]

    copies = Counter(address for got in smtp_server.received for address in got.recipients)
    assert len(copies) == RECIPIENTS and set(copies.values()) == {1}
    engine = create_db_engine(url)
    with engine.connect() as connection:
        states = connection.execute(
            select(DELIVERY.c.state, func.count()).group_by(DELIVERY.c.state)
        ).all()
    engine.dispose()
    assert states == [("sent", RECIPIENTS)]


def test_the_web_app_answers_at_once_after_its_database_restarts(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, Callable[[str], object]]
) -> None:
    """Readers click unsubscribe links whenever they like: the first request after a restart
    must not be the one that finds the pool's connections cut."""
    url, control = restartable
    project = make_project(tmp_path, smtp_server.url, database=url)
    engine = create_db_engine(url)
    with web_server(create_app(project, engine=engine), free_port()) as origin:
        for _ in range(3):  # Connections into the pool, as a running site has them.
            assert healthz(origin) == 200
        control("restart")
        assert [healthz(origin) for _ in range(3)] == [200, 200, 200]
    engine.dispose()


def test_a_pooled_connection_costs_a_round_trip_only_after_the_server_cut_it(
    restartable: tuple[str, Callable[[str], object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement of a delivery worker took a connection out of the pool, and SQLAlchemy's
    pre-ping made it a round trip more; the check now looks at the socket, and pings only a
    connection the server said something to (its FATAL message as it stopped)."""
    url, control = restartable
    engine = create_db_engine(url)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda raw: pings.append(raw) or ping(raw))
    for _ in range(5):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    assert pings == []
    control("restart")
    with engine.connect() as connection:  # The cut connection replaced, unseen.
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    assert len(pings) == 1
    engine.dispose()


def healthz(origin: str) -> int:
    """The status of GET /healthz, which reads the database."""
    try:
        with urllib.request.urlopen(f"{origin}/healthz", timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def weekly(tmp_path: Path, smtp_server: SmtpServer, url: str) -> tuple[Project, Any]:
    """A project on `url` with FIRST ready and a `mon 08:00` UTC schedule; and its job."""
    project = make_project(tmp_path, smtp_server.url + "?connections=1", database=url)
    mark_ready(project, FIRST)
    assert newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", "UTC")[0] == 0
    return project, the_job(project, "weekly-mon-0800")


def test_a_firing_whose_database_goes_away_as_it_queues_sends_once_it_is_back(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, Callable[[str], object]]
) -> None:
    """A restart at the moment a weekly firing stored its mailing failed the firing, and its
    record of the failure too: the firing stayed `started`, and the week's issue went out
    only when another process took the lead."""
    url, control = restartable
    project, job = weekly(tmp_path, smtp_server, url)
    due = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # A Monday.
    back = threading.Timer(2.0, control, ("start",))
    looks: list[datetime] = []

    def clock() -> datetime:
        looks.append(due)
        if len(looks) == 2:  # The send starts: the server stops, and is back two seconds later.
            control("stop")
            back.start()
        return due

    engine = create_db_engine(url)
    try:
        fire(Firer(project, engine, clock=clock), job.id, due, **job.kwargs)
    finally:
        if len(looks) >= 2:
            back.join()
    assert [(f.state, f.issue) for f in firings(engine)] == [("queued", FIRST)]
    with engine.connect() as connection:
        queued = connection.execute(select(func.count()).select_from(DELIVERY)).scalar_one()
    engine.dispose()
    assert queued == len(READERS)


def test_a_firing_waiting_for_its_database_gives_up_when_run_stops_and_the_next_leader_sends(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, Callable[[str], object]]
) -> None:
    """`newsletter run` stopping (SIGTERM) waited for its firing's scheduler, and the firing
    for the database, up to five minutes: systemd killed the process first. Now the firing
    gives up at once; it stays `started`, and the next leader completes it."""
    url, control = restartable
    project, job = weekly(tmp_path, smtp_server, url)
    due = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # A Monday.
    stopping = threading.Event()
    looks: list[datetime] = []

    def clock() -> datetime:
        looks.append(due)
        if len(looks) == 2:  # The send starts: the server stops, the service a second later.
            control("stop")
            threading.Timer(1.0, stopping.set).start()
        return due

    engine = create_db_engine(url)
    started = time.monotonic()
    with pytest.raises(DatabaseGone):
        fire(Firer(project, engine, clock=clock, stop=stopping.is_set), job.id, due, **job.kwargs)
    assert time.monotonic() - started < 10
    control("start")
    assert [(f.state, f.issue) for f in firings(engine)] == [("started", FIRST)]
    assert complete_interrupted(Firer(project, engine, clock=lambda: due)) == 1
    assert [(f.state, f.issue) for f in firings(engine)] == [("queued", FIRST)]
    engine.dispose()


def test_ctrl_c_while_the_database_is_away_stops_the_send_at_once(
    tmp_path: Path, smtp_server: SmtpServer, restartable: tuple[str, Callable[[str], object]]
) -> None:
    """Workers waiting out an outage looked at nothing else: Ctrl-C waited for the database,
    up to five minutes. Now the send stops; what was sent stays in the journals for --resume."""
    url, control = restartable
    _, sender = send_in_background(
        tmp_path, smtp_server, RECIPIENTS, RESTART_AFTER, database=url, rate="400",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    control("stop")
    try:
        time.sleep(1.5)  # Every worker has met the outage.
        sender.send_signal(signal.SIGINT)
        output, _ = sender.communicate(timeout=20)
    finally:
        if sender.poll() is None:
            os.killpg(sender.pid, signal.SIGKILL)
            sender.communicate()
        control("start")
    said = output.decode(errors="replace")
    assert sender.returncode == 130 and "continue with --resume" in said, said[-2000:]
