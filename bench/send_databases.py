"""The same send on SQLite and on PostgreSQL, by two `newsletter run` processes, same run.

    .venv/bin/python bench/send.py --database postgresql [--messages 20000] [--connections 4]

For each database, a project with `--messages` subscribers (SQLite: a file; PostgreSQL: a
database in a throwaway cluster, bench/cluster.py) schedules the bench issue a few seconds
ahead, and two `newsletter run --no-web` processes, started separately (they share no parent,
as on two hosts), each with half the connections, deliver it into the same smtp-sink. Timed
from the audience queued by the firing to the last message sent, read from the database.
SQLite goes first, then PostgreSQL, three times: the best run of each counts (the machine is
shared and noisy: one run in a few takes a third longer, on either database). Each run also
prints the CPU a message of the two processes with their workers and of the PostgreSQL server,
counted from two seconds before the firing (their start-up is not the send's).

The last line is `ratio PostgreSQL/SQLite: 0.NN`, the PostgreSQL send's rate over SQLite's
(issue 18's goal: at least 0.9).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cluster import throwaway_cluster
from send import ROOT, SECRET, delivered, make_project
from sqlalchemy import Engine, select

from newsletter.db import create_db_engine
from newsletter.deliver.models import MAILING, UNFINISHED
from newsletter.deliver.report import mailings_with

ISSUE = "2026-11-30-bench-weekly"
LEAD = 6.0
"""Seconds between scheduling the send and its firing: both processes are up by then."""


@contextmanager
def two_services(
    config: Path, environment: dict[str, str], lead: float
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The bench issue scheduled `lead` seconds ahead, and two `newsletter run --no-web`
    processes started to send it, each in a session of its own (no parent in common);
    stopped at the end as systemd stops them (SIGTERM), and waited for."""
    command = [str(ROOT / ".venv" / "bin" / "newsletter"), "--config", str(config)]
    at = f"{datetime.now(UTC) + timedelta(seconds=lead):%Y-%m-%d %H:%M:%S}"
    subprocess.run(
        [*command, "schedule", "add", ISSUE, "--at", at, "--tz", "UTC"],
        check=True, env=environment, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    running = [
        subprocess.Popen(
            [*command, "run", "--no-web", "--log-level", "warning"],
            env=environment,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        yield running
    finally:
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            process.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and its children, those still running too."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # utime, stime, cutime, cstime: fields 14 to 17 of stat(5), after the command's name.
        total = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            total += sum(cpu_seconds(int(child)) for child in task.read_text().split())
    except OSError:
        pass  # Gone meanwhile.
    return total


def server_cpu(database: str) -> float:
    """CPU time of the PostgreSQL server of `database` (its postmaster and every backend); 0
    for SQLite (in the senders' own processes)."""
    if not database.startswith("postgresql"):
        return 0.0
    socket_folder = database.rpartition("host=")[2]
    postmaster = Path(socket_folder, "data", "postmaster.pid").read_text().split()[0]
    return cpu_seconds(int(postmaster))


def finished(engine: Engine) -> bool:
    """Whether the bench issue's mailing is there and has no delivery left to send."""
    with engine.connect() as connection:
        started = connection.execute(select(MAILING.c.id).where(MAILING.c.issue == ISSUE)).first()
    left = {issue for _, _, issue in mailings_with(engine, UNFINISHED, queueing=True)}
    return started is not None and ISSUE not in left


def two_processes(
    config: Path, folder: Path, database: str, messages: int
) -> tuple[float, float, float, float]:
    """Seconds from the firing's queueing to the last message, two `run` processes sending;
    to the first message; and the CPU seconds of the two processes (with their workers) and
    of the database server from a second before the firing (their start-up is not the
    send's: a PostgreSQL process imports psycopg and connects, which SQLite's do not)."""
    environment = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}
    # The bench looks as a worker does, on one connection: whether the send has a delivery
    # left (an index probe); the deliveries are counted once it has none.
    engine = create_db_engine(database)
    with two_services(config, environment, LEAD) as running:
        time.sleep(LEAD - 2.0)  # Both processes are up and waiting for the firing.
        senders, server = sum(cpu_seconds(p.pid) for p in running), server_cpu(database)
        counted_from = datetime.now(UTC)
        deadline = time.monotonic() + LEAD + 600
        while not finished(engine) or delivered(folder, ISSUE, database)[3] < messages:
            assert time.monotonic() < deadline, "the two processes did not finish the send"
            assert all(p.poll() is None for p in running), "a `run` process stopped"
            time.sleep(0.5)
        senders = sum(cpu_seconds(process.pid) for process in running) - senders
        server = server_cpu(database) - server
    engine.dispose()
    queued, first, last, _ = delivered(folder, ISSUE, database)
    if counted_from > queued:
        print(f"(the CPU was counted from {(counted_from - queued).total_seconds():.2f} s after "
              "the firing: the processes took longer to start)")  # fmt: skip
    return (last - queued).total_seconds(), (first - queued).total_seconds(), senders, server


def one_database(
    port: int, connections: int, messages: int, database: str
) -> tuple[float, float, float, float]:
    """A fresh project in `database` (empty: SQLite's is made in the project) and its send."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = database or f"sqlite:///{folder / 'bench.db'}"
        config = make_project(folder, port, connections // 2, messages, False, url)
        return two_processes(config, folder, url, messages)


def compare(port: int, connections: int, messages: int) -> None:
    """Print each database's runs and the ratio of the better of each."""
    if connections < 2 or connections % 2:
        raise SystemExit("--connections must be even with --database: half in each process")
    print(
        f"{messages:,} messages, two `newsletter run` processes with {connections // 2} "
        "connections each, into smtp-sink"
    )
    best: dict[str, float] = {}
    sending: dict[str, float] = {}  # Without the queueing before the first message.
    rounds = ("first", "second", "third")
    with throwaway_cluster(*rounds) as url:
        for attempt, name in enumerate(rounds, 1):
            for label, database in (("SQLite", ""), ("PostgreSQL", url.format(name))):
                seconds, lag, senders, server = one_database(port, connections, messages, database)
                print(f"{label + ',':11} run {attempt}: {seconds:6.2f} s  "
                      f"{messages / seconds:8,.0f} msg/s (queued to last sent; "
                      f"{lag:4.2f} s to the first); CPU a message: "
                      f"{senders / messages * 1e6:4.0f} us senders, "
                      f"{server / messages * 1e6:4.0f} us server")  # fmt: skip
                best[label] = min(best.get(label, seconds), seconds)
                sending[label] = min(sending.get(label, seconds - lag), seconds - lag)
    print(f"from the first message to the last alone, PostgreSQL/SQLite: "
          f"{sending['SQLite'] / sending['PostgreSQL']:.2f}")  # fmt: skip
    print(f"ratio PostgreSQL/SQLite: {best['SQLite'] / best['PostgreSQL']:.2f}")
