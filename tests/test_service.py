"""`newsletter run` in real processes, on real time: schedules fire, sends go out once.

Each test starts the service as a user would (`python -m newsletter run`), against a real SMTP
server on 127.0.0.1 and a real SQLite file, with schedules a few seconds ahead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.journal import journal_folder, journal_path, read_journal
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.deliver.worker import Job
from newsletter.schedule.firing import firings
from newsletter.sends import load_issue, start_send
from newsletter.service.pool import _loop
from newsletter.service.runner import STOP_SIGNALS, _on_signals

from .conftest import Recorder, SmtpServer
from .test_delivery import READERS, SECRET, import_readers, make_project, newsletter
from .test_schedule import FIRST, SECOND, mark_ready

READER_ADDRESSES = [email for email, _, _ in READERS]
pytestmark = pytest.mark.slow  # Run first in parallel runs (conftest.py).


class Service:
    """One `newsletter run` process, its log in a file."""

    def __init__(self, project: Project, name: str, *args: str) -> None:
        self.log_path = project.root / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "newsletter", "--config", str(project.source), "run", *args],
                env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
                cwd=project.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        wait_until(lambda: text in self.log, timeout, f"{text!r} in the log:\n{self.log}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd stops it; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


Start = Callable[..., Service]


@pytest.fixture
def start() -> Iterator[Start]:
    """`start(project, name, *args)`: a service; whatever still runs at the end is killed."""
    started: list[Service] = []

    def start_one(project: Project, name: str, *args: str) -> Service:
        started.append(Service(project, name, *args))
        return started[-1]

    yield start_one
    for service in started:
        if service.process.poll() is None:
            service.kill()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    """The process ids of a process's children (Linux)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(n) for n in (task / "children").read_text().split()}
    return found


def workers_of(service: Service) -> list[int]:
    """The delivery worker processes of a service (not multiprocessing's resource tracker)."""
    found = []
    for pid in children(service.process.pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except FileNotFoundError:
            pass  # Gone meanwhile.
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def at(seconds: float) -> str:
    """A UTC wall-clock time `seconds` from now, as `schedule add --at` takes it."""
    return f"{datetime.now(UTC) + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S}"


def weekly_at(seconds: float) -> str:
    """`sun 13:48:14`: today's weekday and the UTC time `seconds` from now."""
    return f"{datetime.now(UTC) + timedelta(seconds=seconds):%a %H:%M:%S}".lower()


def served(port: int, path: str) -> bytes | None:
    """The body of a page of the web app on `port`, or None when it answers with an error."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return bytes(response.read())
    except urllib.error.HTTPError:
        return None


def kill_with_outcomes_unrecorded(project: Project) -> None:
    """SIGKILL the worker holding the most claims, at a moment when its journal holds outcomes
    it has not recorded in the database yet (not any worker: one may still be starting)."""
    query = (
        select(DELIVERY.c.mailing_id, DELIVERY.c.claimed_by)
        .where(DELIVERY.c.state == "sending")
        .group_by(DELIVERY.c.mailing_id, DELIVERY.c.claimed_by)
        .order_by(func.count().desc())
        .limit(1)
    )
    engine = create_db_engine(database_url(project))
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                claims = connection.execute(query).first()
            if claims is None:  # Both workers between batches.
                time.sleep(0.005)
                continue
            mailing, worker = claims
            pid = int(worker.rpartition(":")[2])
            os.kill(pid, signal.SIGSTOP)  # Still, so its journal cannot change meanwhile.
            journal = journal_path(journal_folder(project.root, project.config), mailing, worker)
            try:
                wait_until(partial(stopped, pid), 5, f"worker {pid} to stop")  # kill() is early.
                unrecorded = journal.exists() and bool(read_journal(journal))
            except BaseException:
                os.kill(pid, signal.SIGCONT)
                raise
            os.kill(pid, signal.SIGKILL if unrecorded else signal.SIGCONT)
            if unrecorded:
                return
            time.sleep(0.005)
    finally:
        engine.dispose()
    raise AssertionError("no worker with outcomes journaled and not recorded")


def stopped(pid: int) -> bool:
    """Whether a process is stopped by a signal (its state in /proc is T), or gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] in "TtZX"
    except FileNotFoundError:
        return True


def per_reader(smtp_server: SmtpServer) -> Counter[str]:
    return Counter(r.recipients[0] for r in smtp_server.received)


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return make_project(tmp_path, smtp_server.url + "?connections=2")


def test_a_schedule_survives_a_restart_and_a_send_missed_while_down_runs_once(
    project: Project, smtp_server: SmtpServer, start: Start
) -> None:
    main = project.issues_path / FIRST / "issue.md"  # Not published until it is sent.
    main.write_text(main.read_text("utf-8").replace("status: sent\n", "status: ready\n"), "utf-8")
    first = start(project, "first", "--no-web")
    first.wait_for_log("this process leads the schedule")
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    code, output = newsletter(
        project, "schedule", "add", FIRST, "--at", f"{due:%Y-%m-%d %H:%M:%S}", "--tz", "UTC"
    )
    assert code == 0, output
    assert first.stop() == 0 and "stopped" in first.log
    engine = create_db_engine(database_url(project))
    assert firings(engine) == [] and smtp_server.received == []
    assert f"send-{FIRST}" in newsletter(project, "schedule", "list")[1]

    # The send comes due while no service runs; the next start sends it, once.
    wait_until(lambda: datetime.now(UTC) > due + timedelta(seconds=1), 20, "the due time")
    assert firings(engine) == []
    port = free_port()
    second = start(project, "second", "--port", str(port))
    wait_until(lambda: len(smtp_server.received) >= len(READERS), 30, "the send")
    time.sleep(1.5)  # Anything sent twice would arrive meanwhile.
    assert per_reader(smtp_server) == Counter(READER_ADDRESSES)
    [fired] = firings(engine)
    assert (fired.job_id, fired.state, fired.issue) == (f"send-{FIRST}", "queued", FIRST)
    assert f"sending {FIRST}: 4 recipients queued" in second.log
    # The web app runs in the same process, and its archive shows the issue now it was sent:
    # the same page `newsletter archive` writes.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200
    assert newsletter(project, "archive", "--out", str(project.root / "exported"))[0] == 0
    exported = (project.root / "exported" / "zh" / FIRST / "index.html").read_bytes()
    wait_until(lambda: served(port, f"/zh/{FIRST}/") == exported, 10, "the archive page")
    assert second.stop() == 0
    listed = newsletter(project, "schedule", "list")[1]
    assert f"send-{FIRST}" not in listed  # A one-off schedule is gone once it fired.


def test_two_run_processes_on_one_database_send_each_message_once(
    tmp_path: Path, smtp_server: SmtpServer, start: Start
) -> None:
    project = make_project(tmp_path, smtp_server.url + "?connections=2")
    import_readers(project, 200)
    mark_ready(project, FIRST)
    mark_ready(project, SECOND)
    one = start(project, "one", "--no-web")
    two = start(project, "two", "--no-web")
    for service in (one, two):
        service.wait_for_log("newsletter run:")
    wait_until(lambda: "leads the schedule" in one.log + two.log, 30, "a leader")
    # A delivery worker that dies is replaced.
    wait_until(lambda: workers_of(one), 30, "a delivery worker")
    worker = workers_of(one)[0]
    os.kill(worker, signal.SIGKILL)
    one.wait_for_log("starting another")
    code, output = newsletter(project, "schedule", "weekly", weekly_at(4), "--tz", "UTC")
    assert code == 0, output

    everyone = 200 + len(READERS)
    wait_until(lambda: len(smtp_server.received) >= everyone, 60, "the send")
    time.sleep(2)
    assert set(per_reader(smtp_server).values()) == {1}
    assert len(per_reader(smtp_server)) == everyone
    [fired] = firings(create_db_engine(database_url(project)))
    assert fired.issue == FIRST  # The oldest ready issue; the other waits for next week.
    assert (one.log + two.log).count("leads the schedule") == 1
    assert one.stop() == 0 and two.stop() == 0


def test_killing_the_leader_hands_the_schedule_to_the_other_process(
    project: Project, smtp_server: SmtpServer, start: Start
) -> None:
    leader = start(project, "leader", "--no-web")
    leader.wait_for_log("this process leads the schedule")
    other = start(project, "other", "--no-web")
    other.wait_for_log("newsletter run:")
    time.sleep(1)
    assert "leads the schedule" not in other.log
    assert newsletter(project, "schedule", "add", FIRST, "--at", at(4), "--tz", "UTC")[0] == 0
    leader.kill()  # SIGKILL: no clean hand-over; its workers stop when they see it gone.

    other.wait_for_log("this process leads the schedule", timeout=15)
    wait_until(lambda: len(smtp_server.received) >= len(READERS), 30, "the send")
    time.sleep(1.5)
    assert per_reader(smtp_server) == Counter(READER_ADDRESSES)
    assert f"sending {FIRST}" in other.log
    assert other.stop() == 0


class SlowRecorder(Recorder):
    """A server that takes 20 ms per message: a send lasts long enough to be stopped."""

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def test_sigterm_finishes_the_messages_in_flight_and_leaves_the_rest_queued(
    tmp_path: Path, smtp_server: SmtpServer, start: Start
) -> None:
    slow = SlowRecorder()
    smtp_server.recorder.handle_DATA = slow.handle_DATA  # type: ignore[method-assign]
    slow.received = smtp_server.recorder.received
    project = make_project(tmp_path, smtp_server.url + "?connections=2")
    import_readers(project, 400)
    assert newsletter(project, "schedule", "add", FIRST, "--at", at(3), "--tz", "UTC")[0] == 0
    service = start(project, "service", "--no-web")
    wait_until(lambda: len(smtp_server.received) >= 50, 60, "the send to start")
    assert service.stop(timeout=20) == 0

    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        states = dict(
            connection.execute(
                select(DELIVERY.c.state, func.count()).group_by(DELIVERY.c.state)
            ).all()
        )
    everyone = 400 + len(READERS)
    # Every message the server got is recorded as sent; nothing is left claimed.
    assert states.get("sending", 0) == 0
    assert states["sent"] == len(smtp_server.received) < everyone
    assert states["sent"] + states["queued"] == everyone

    again = start(project, "again", "--no-web")
    wait_until(lambda: len(smtp_server.received) >= everyone, 60, "the rest of the send")
    time.sleep(1)
    assert set(per_reader(smtp_server).values()) == {1} and len(per_reader(smtp_server)) == everyone
    assert again.stop() == 0


def test_a_signal_that_comes_while_the_service_waits_for_its_next_tick_stops_it() -> None:
    """The service's main thread waits for its next tick on the stop event, holding the
    event's lock as it goes in and out of the wait. A signal handler runs in that same thread:
    one that set the event itself waited for that lock forever, and `systemctl stop` hung
    until systemd killed the service (seen in bench/send.py's runs, one stop in a few)."""
    stop = threading.Event()
    handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}

    def stuck(_signum: int, _frame: object) -> None:
        raise TimeoutError("the SIGTERM handler waited for a lock its own thread holds")

    alarm = signal.signal(signal.SIGALRM, stuck)
    try:
        _on_signals(stop)
        signal.alarm(3)  # Interrupts a lock wait in the main thread: a failure, not a hang.
        with stop._cond:  # type: ignore[attr-defined]  # Where the main thread is in wait().
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # The handler runs here, between two bytecodes.
        assert stop.wait(5)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, alarm)
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_a_worker_waits_out_an_unreachable_server_and_keeps_the_deliveries_queued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = make_project(tmp_path, f"smtp://127.0.0.1:{free_port()}?connections=1")
    engine = create_db_engine(database_url(project))
    start_send(project, engine, load_issue(project, FIRST), to=None, clock=utcnow)
    template = Job.of(project)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    _loop(template, engine, lambda: len(waits) >= 3, wait, idle=wait)
    assert waits == [2.0, 4.0, 8.0]  # Backing off, not spinning.
    assert "trying again in 2 s" in caplog.text
    with engine.connect() as connection:
        assert connection.execute(select(MAILING.c.id)).all() != []
        states = connection.execute(select(DELIVERY.c.state)).scalars().all()
    assert states and set(states) == {"queued"}
    engine.dispose()


def test_a_worker_killed_mid_send_repeats_at_most_its_message_in_flight(
    tmp_path: Path, smtp_server: SmtpServer, start: Start
) -> None:
    project = make_project(tmp_path, smtp_server.url + "?connections=2")
    import_readers(project, 400)
    assert newsletter(project, "schedule", "add", FIRST, "--at", at(3), "--tz", "UTC")[0] == 0
    service = start(project, "service", "--no-web")
    wait_until(lambda: len(smtp_server.received) >= 100, 60, "the send to be under way")
    kill_with_outcomes_unrecorded(project)
    service.wait_for_log("claims of a stopped worker queued again")

    everyone = 400 + len(READERS)
    wait_until(lambda: len(per_reader(smtp_server)) >= everyone, 60, "the rest of the send")
    time.sleep(1)
    # The service recorded what the dead worker had journaled before it queued its claims
    # again: only the message whose reply it had not read can have gone out twice.
    assert sum(count - 1 for count in per_reader(smtp_server).values()) <= 1
    assert "outcomes of a stopped worker recorded" in service.log
    assert list((project.root / ".newsletter" / "journal").iterdir()) == []
    assert service.stop() == 0


def test_a_worker_killed_while_it_waits_for_work_leaves_the_service_able_to_stop(
    project: Project, start: Start
) -> None:
    # A worker killed while it waited on a multiprocessing Event left the Event's condition
    # waiting for it: the service's stop then hung for good in setting the Event.
    service = start(project, "service", "--no-web")
    database = project.root / "news.db"
    wait_until(lambda: len(idle_workers(service, database)) == 2, 30, "two idle workers")
    time.sleep(0.5)  # Each has looked for work and waits for the next look.
    os.kill(idle_workers(service, database)[0], signal.SIGKILL)
    service.wait_for_log("starting another")
    assert service.stop(timeout=20) == 0
    assert "stopped" in service.log.splitlines()[-1]


def idle_workers(service: Service, database: Path) -> list[int]:
    """The workers that have opened the database (they look for work at once)."""
    return [
        pid
        for pid in workers_of(service)
        if any(fd.resolve() == database.resolve() for fd in Path(f"/proc/{pid}/fd").iterdir())
    ]
