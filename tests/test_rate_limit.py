"""`rate=` is one limit for the whole installation: every worker of every process shares it.

The slots come from one row in the database (deliver/pacing.py). Tested as the library (workers
in threads, on SQLite and PostgreSQL) and as an operator runs it: two `newsletter run`
processes, started separately, on one PostgreSQL database, sending at `rate=100` together.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import SEND_PACE
from newsletter.deliver.pacing import SharedRate
from newsletter.deliver.worker import Job, Worker

from .mailservers import arrivals, smtp_sink
from .test_delivery import READERS, import_readers, make_project, newsletter
from .test_postgres import cluster, database, either_engine  # noqa: F401 - the cluster
from .test_schedule import FIRST, mark_ready
from .test_service import Service, at, wait_until

pytestmark = pytest.mark.slow  # Real time: run first in parallel runs (conftest.py).


def sent_rate(times: list[float], skip: int = 0, leave: int = 0) -> float:
    """Messages per second from the `skip`th time to the last but `leave`."""
    times = sorted(times)[skip : len(times) - leave]
    return (len(times) - 1) / (times[-1] - times[0])


def test_workers_in_threads_share_one_rate(engine: Engine) -> None:
    times: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        pace = SharedRate(engine, 100)
        for _ in range(40):
            pace.wait()
            with lock:
                times.append(time.monotonic())
        pace.give_back()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(times) == 120
    # Each worker alone would go at 100 a second; the three together do too (while all three
    # send: at the end, slots reserved by one that has stopped are lost, below the rate).
    assert 95 <= sent_rate(sorted(times)[:90]) <= 105
    assert sent_rate(times) <= 105
    # No burst beyond one reservation's slots: in any tenth of a second, at most 10 + 10.
    ordered = sorted(times)
    assert max(sum(1 for t in ordered if s <= t < s + 0.1) for s in ordered) <= 20


def test_a_rate_must_be_positive(engine: Engine) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        SharedRate(engine, 0)


def test_the_limit_row_is_made_once(engine: Engine) -> None:
    SharedRate(engine, 10).wait()
    SharedRate(engine, 10).wait()
    with engine.connect() as connection:
        assert len(connection.execute(select(SEND_PACE)).all()) == 1


def test_a_small_send_at_a_low_rate_uses_every_connection(tmp_path: Path) -> None:
    """Claims are sized to the rate: 40 readers at 4 a second over four connections are not
    all claimed by the first worker."""
    project = make_project(tmp_path, "smtp://127.0.0.1:25?connections=4&rate=4")
    job = Job.of(project, rate=4, connections=4)
    engine = create_db_engine(database_url(project))
    worker = Worker(job, engine, transport=_Unused())
    assert worker.claim_size == 2  # Two seconds of a quarter of the rate.
    fast = Worker(Job.of(project), engine, transport=_Unused())
    assert fast.claim_size == 200
    engine.dispose()


class _Unused:
    """A transport the test never sends through (the claim size needs no server)."""

    def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing is sent here")

    def close(self) -> None:
        pass


def test_two_run_processes_send_at_the_rate_together(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two `newsletter run` processes, started separately (no parent in common, as on two
    hosts), two connections each, on one PostgreSQL database, `rate=100`: 100 a second."""
    url: str = request.getfixturevalue("database")  # A new database in the cluster.
    with smtp_sink() as (server, received):
        project = make_project(tmp_path, server + "?connections=2&rate=100", database=url)
        import_readers(project, 600)
        mark_ready(project, FIRST)
        services = [Service(project, "one", "--no-web"), Service(project, "two", "--no-web")]
        try:
            _send_with(project, services, received)
        finally:
            for service in services:
                if service.process.poll() is None:
                    service.kill()
        times, recipients = arrivals(received)
    assert len(set(recipients)) == len(recipients) == 600 + len(READERS)
    # Both processes sent (each logs what its workers handled), at 100 a second in all.
    for service in services:
        assert "messages handled" in service.log, service.log
    # While every worker has deliveries claimed: from when both processes are sending to the
    # last 60 (at the end, the workers that hold the last claims send at the whole rate alone).
    rate = sent_rate(times, skip=20, leave=60)
    print(f"\ntwo run processes at rate=100: {rate:.1f} messages a second")  # For the notes (-s).
    assert 95 <= rate <= 105, rate


def _send_with(project: Project, services: list[Service], received: Path) -> None:
    for service in services:
        service.wait_for_log("newsletter run:")
    code, output = newsletter(project, "schedule", "add", FIRST, "--at", at(3), "--tz", "UTC")
    assert code == 0, output
    everyone = 600 + len(READERS)
    wait_until(lambda: len(list(received.iterdir())) >= everyone, 60, "the send")
    assert [service.stop() for service in services] == [0, 0]
