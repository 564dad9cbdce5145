"""A million subscribers on PostgreSQL: import, a send by two `run` processes, memory, status.

    .venv/bin/python bench/scale.py [--subscribers 1000000] [--connections 4]

In a throwaway PostgreSQL cluster (bench/cluster.py) and a project like bench/send.py's (one
issue, each message about 20 KB):

- import: `newsletter subscribers import` of a generated CSV of `--subscribers` readers, timed
  as the command, in rows a second;
- send: the issue scheduled a few seconds ahead, delivered by two `newsletter run --no-web`
  processes started separately, each with half the connections, into Postfix's smtp-sink;
  timed from the audience queued by the firing to the last message sent;
- memory: the peak resident size (VmHWM) of every process of both services, sampled while
  they run: each service's main process (the leader fires the schedule: it queues the
  audience) and each delivery worker. Goal: flat, under 150 MB a worker, whatever the
  audience size (compare --subscribers 100000 with the default);
- status: `newsletter status ISSUE` on the finished send, after 1% of its messages bounced
  (two thirds hard), 0.1% were complained about and 0.2% of its readers unsubscribed (stored
  in SQL as `newsletter inbound process` and the unsubscribe link store them), timed as the
  command (best of three), against `newsletter --help` in the same run (Python's start-up
  and imports), and against counting the send's deliveries by locale and state from the
  deliveries themselves, which status did before PostgreSQL kept the counts
  (deliver/tally.py). Goal: under a second.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from cluster import run_script, throwaway_cluster
from send import ROOT, SECRET, SINK, delivered, ensure_postfix, free_port, make_project
from send_databases import ISSUE, two_services

NEWSLETTER = str(ROOT / ".venv" / "bin" / "newsletter")
LEAD = 8.0
"""Seconds between scheduling the send and its firing: both services are up by then."""


def peak_memory(pid: int) -> int:
    """The process's peak resident size so far, in bytes (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(n) for n in task.read_text().split()]
    return found


def kind_of(pid: int) -> str:
    """A service's child process: a delivery worker, or multiprocessing's resource tracker."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "process"
    return "resource tracker" if b"resource_tracker" in command else "worker"


def timed(*command: str, environment: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_readers(config: Path, folder: Path, count: int, environment: dict[str, str]) -> float:
    """Seconds of `newsletter subscribers import` of `count` generated readers."""
    readers = folder / "million.csv"
    with readers.open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for n in range(count):
            out.write(f"reader{n}@example.net,Reader Number {n}\n")
    return timed(
        NEWSLETTER, "--config", str(config), "subscribers", "import", str(readers),
        environment=environment,
    )  # fmt: skip


def send(
    config: Path, folder: Path, url: str, count: int, environment: dict[str, str]
) -> tuple[float, dict[str, int]]:
    """Seconds from queued to last sent, and the peak memory of each service process."""
    peaks: dict[str, int] = {}
    with two_services(config, environment, LEAD) as services:
        deadline = time.monotonic() + LEAD + 3600
        checked = 0.0
        while True:
            for number, service in enumerate(services, 1):
                assert service.poll() is None, "a `run` process stopped"
                for pid in (service.pid, *children(service.pid)):
                    name = f"run {number}, " + (
                        "main" if pid == service.pid else f"{kind_of(pid)} {pid}"
                    )
                    peaks[name] = max(peaks.get(name, 0), peak_memory(pid))
            if time.monotonic() - checked > 5:
                checked = time.monotonic()
                if delivered(folder, ISSUE, url)[3] >= count:
                    break
            assert time.monotonic() < deadline, "the two services did not finish the send"
            time.sleep(0.5)
    queued, _, last, _ = delivered(folder, ISSUE, url)
    return (last - queued).total_seconds(), peaks


CAME_BACK = """
INSERT INTO inbound_message (digest, source, kinds, problem, kept, received_at)
SELECT md5(n::text), 'bench', '', '', false, now() FROM generate_series(1, %(events)s) n;
INSERT INTO inbound_event (message_id, kind, delivery_id, mailing_id, subscriber_id, locale,
    recipient_hash, status, diagnostic, matched_by, reason, action, source, at)
SELECT message.id,
    CASE WHEN message.id %% 11 = 0 THEN 'complaint' WHEN message.id %% 3 = 0 THEN 'soft'
    ELSE 'hard' END,
    delivery.id, delivery.mailing_id, delivery.subscriber_id, delivery.locale, '', '5.1.1',
    'no such user',
    'verp', '', '', 'bench', now()
FROM inbound_message message
JOIN delivery ON delivery.id = message.id * %(step)s
WHERE message.source = 'bench';
INSERT INTO consent_event (subscriber_id, kind, at, method, source, details)
SELECT subscriber_id, 'unsubscribed', now(), 'link', 'bench', '{}'
FROM delivery WHERE id %% 500 = 7;
ANALYZE;
"""
"""What came back after the send: an event for 1.1% of the deliveries (a tenth of them
complaints, the rest bounces), an unsubscribe for 0.2%."""


def came_back(url: str, count: int) -> None:
    from newsletter.db import create_db_engine

    engine = create_db_engine(url)
    events = count * 11 // 1000
    run_script(engine, CAME_BACK, {"events": events, "step": count // events})
    engine.dispose()


def counting(url: str) -> float:
    """Seconds (best of three) of counting the send's deliveries by locale and state with one
    query over them: what `newsletter status` did before the tally."""
    from newsletter.db import create_db_engine

    engine = create_db_engine(url)
    query = (
        "SELECT locale, state, count(*) FROM delivery WHERE mailing_id = "
        "(SELECT id FROM mailing WHERE issue = %(issue)s) GROUP BY locale, state"
    )
    best = float("inf")
    with engine.connect() as connection:
        for _ in range(3):
            start = time.perf_counter()
            connection.exec_driver_sql(query, {"issue": ISSUE}).all()
            best = min(best, time.perf_counter() - start)
    engine.dispose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    ensure_postfix()
    port = free_port()
    sink = subprocess.Popen([str(SINK), "-u", "nobody", f"127.0.0.1:{port}", "1024"])
    environment = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}
    try:
        with throwaway_cluster("scale") as template, tempfile.TemporaryDirectory() as tmp:
            folder, url = Path(tmp), template.format("scale")
            config = make_project(folder, port, args.connections // 2, 0, False, url)
            seconds = import_readers(config, folder, args.subscribers, environment)
            print(f"import: {args.subscribers:,} subscribers in {seconds:.1f} s, "
                  f"{args.subscribers / seconds:,.0f} rows/s")  # fmt: skip
            sending, peaks = send(config, folder, url, args.subscribers, environment)
            print(f"send: {args.subscribers:,} messages in {sending:.1f} s, "
                  f"{args.subscribers / sending:,.0f} msg/s (two `run` processes, "
                  f"{args.connections // 2} connections each)")  # fmt: skip
            for name, peak in sorted(peaks.items()):
                if peak:
                    print(f"peak memory, {name}: {peak / 2**20:.0f} MB")
            came_back(url, args.subscribers)
            status = min(
                timed(NEWSLETTER, "--config", str(config), "status", ISSUE, environment=environment)
                for _ in range(3)
            )
            start = timed(NEWSLETTER, "--help", environment=environment)
            print(f"newsletter status: {status:.2f} s (newsletter --help: {start:.2f} s; "
                  f"counting the deliveries themselves: {counting(url):.2f} s)")  # fmt: skip
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
