"""The outbox's own work for each message, on SQLite and on PostgreSQL, same run, no SMTP.

    .venv/bin/python bench/outbox.py [--deliveries 20000] [--runs 3]

What a send asks of its database, apart from the messages themselves: the firing queues the
audience (`enqueue_audience`), then a worker claims a batch as `newsletter run`'s workers do
(200 deliveries), reads those subscribers, and records their outcomes 50 at a time (all sent),
until nothing is left. One process, one connection, nothing else running: each phase's CPU
time in this process (the client; on SQLite, the database too) and, on PostgreSQL, in the
server (a throwaway cluster, bench/cluster.py, fsync off), in microseconds a message. The best
run of each counts (the machine is shared).

bench/send.py --database postgresql times whole sends on both databases; this shows how much of
the difference is the database's work and which phase holds it. The last line is the ratio of
SQLite's CPU a message to PostgreSQL's (client and server), `ratio SQLite/PostgreSQL CPU: 0.NN`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from cluster import throwaway_cluster
from segments import new_mailing
from send import make_project
from send_databases import server_cpu

from newsletter.db import create_db_engine
from newsletter.deliver.audience import enqueue_audience
from newsletter.deliver.outbox import Result, RetryPolicy, claim, record, subscribers_now
from newsletter.deliver.worker import CLAIMS_PER_RECORD, LEASE, RECORD_EVERY

T = TypeVar("T")
PHASES = ("queue", "claim", "subscribers", "record")


class Clock:
    """CPU seconds per phase: this process's, and the database server's (0 on SQLite)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = dict.fromkeys(PHASES, 0.0)
        self.server = dict.fromkeys(PHASES, 0.0)

    def timed(self, phase: str, work: Callable[[], T]) -> T:
        # Reading the server's CPU costs this process's: done outside the client's time.
        server = server_cpu(self.url)
        client = time.process_time()
        result = work()
        self.client[phase] += time.process_time() - client
        self.server[phase] += server_cpu(self.url) - server
        return result


def one_run(url: str, deliveries: int) -> Clock:
    """A project with `deliveries` subscribers in `url` (SQLite when empty), and its send's
    database work, phase by phase."""
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        make_project(Path(tmp), 25, 1, deliveries, False, url)
        engine = create_db_engine(url)
        clock, now = Clock(url), datetime.now(UTC)
        mailing = new_mailing(engine, "bench")
        assert mailing.id is not None
        mailing_id, policy = mailing.id, RetryPolicy(60.0, 5)
        queued = clock.timed(
            "queue",
            lambda: enqueue_audience(engine, mailing, default_locale="en", to=None, now=now),
        )
        assert queued == deliveries, f"{queued} of {deliveries} queued"
        sent = 0
        while batch := clock.timed(
            "claim",
            lambda: claim(
                engine, mailing_id, "bench-1", limit=RECORD_EVERY * CLAIMS_PER_RECORD,
                lease=LEASE, now=datetime.now(UTC),
            ),
        ):  # fmt: skip
            ids = [claimed.subscriber_id or 0 for claimed in batch]
            clock.timed("subscribers", partial(subscribers_now, engine, ids))
            for start in range(0, len(batch), RECORD_EVERY):
                results = [
                    Result(c.id, c.attempts, "sent", "250 2.0.0 Ok: queued", f"<{c.id}@bench>")
                    for c in batch[start : start + RECORD_EVERY]
                ]
                clock.timed(
                    "record",
                    partial(
                        record, engine, mailing_id, "bench-1", results, policy, datetime.now(UTC),
                        lease=LEASE, renew=False,
                    ),
                )  # fmt: skip
            sent += len(batch)
        assert sent == deliveries, f"{sent} of {deliveries} claimed"
        engine.dispose()
        return clock


def show(label: str, clock: Clock, deliveries: int) -> float:
    """Print one run's line; its CPU a message in microseconds, client and server."""
    cells, total = [], 0.0
    for phase in PHASES:
        client, server = clock.client[phase], clock.server[phase]
        total += client + server
        cells.append(f"{client / deliveries * 1e6:5.1f}+{server / deliveries * 1e6:4.1f}")
    print(f"{label:18}" + "".join(f"{cell:>14}" for cell in cells)
          + f"{total / deliveries * 1e6:9.1f}")  # fmt: skip
    return total / deliveries * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, choices=range(1, 11), metavar="1-10")
    args = parser.parse_args()
    print(f"{args.deliveries:,} deliveries; CPU a message in us, client+server, by phase:")
    print(f"{'':18}" + "".join(f"{phase:>14}" for phase in PHASES) + f"{'all':>9}")
    best: dict[str, float] = {}
    with throwaway_cluster(*(f"run{n}" for n in range(args.runs))) as url:
        for n in range(args.runs):
            for label, database in (("SQLite", ""), ("PostgreSQL", url.format(f"run{n}"))):
                clock = one_run(database, args.deliveries)
                cpu = show(f"{label}, run {n + 1}", clock, args.deliveries)
                best[label] = min(best.get(label, cpu), cpu)
    print(f"ratio SQLite/PostgreSQL CPU: {best['SQLite'] / best['PostgreSQL']:.2f}")


if __name__ == "__main__":
    main()
