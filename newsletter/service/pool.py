"""The delivery workers of `newsletter run`: one process per SMTP connection, for every mailing.

Each worker process loops: find the mailings with deliveries due, deliver them (deliver/worker.py
does the claiming, sending and recording), and wait a moment when nothing is due. Deliveries
due later (retries, local-time sends) are picked up when their time comes.

Workers are started with `spawn`: the service runs threads (scheduler, web server), and a
forked child would inherit their locks and SQLite's per-process state. A worker stops when the
pool tells it to or when the service process is gone; either way it records what it sent and
gives back the claims it did not send. The pool starts a worker again when one dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path

from sqlalchemy import Engine

from newsletter.config import Config
from newsletter.db import create_db_engine, utcnow
from newsletter.deliver.report import mailings_with, progress
from newsletter.deliver.transports import Transport, open_transport
from newsletter.deliver.worker import Job, Worker
from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)
POLL = 1.0
IDLE_CLOSE = 30.0  # Seconds without work after which a worker closes its SMTP connection.
MAX_BACKOFF = 60.0
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """What a worker process is handed (plain values: it is pickled to a spawned process)."""

    config: Config
    secrets: Mapping[str, str]
    root: Path
    database_url: str
    rate: float | None
    """Messages per second for this worker (None: as fast as the server takes them)."""
    log_level: int = logging.INFO
    parent: int | None = None
    clock: Callable[[], datetime] = utcnow


class WorkerPool:
    """`size` worker processes, started again when one dies, stopped on request."""

    def __init__(self, settings: Settings, size: int) -> None:
        self.settings = replace(settings, parent=os.getpid())
        self.size = size
        self.context = multiprocessing.get_context("spawn")
        self.halt = self.context.Event()
        self.processes: list[BaseProcess] = []

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> BaseProcess:
        process = self.context.Process(
            target=deliver_forever, args=(self.settings, self.halt), name="delivery-worker"
        )
        process.start()
        return process

    def watch(self) -> None:
        """Start a new worker in place of each one that died."""
        for at, process in enumerate(self.processes):
            if process.exitcode is not None and not self.halt.is_set():
                log.error(
                    "delivery worker %s stopped (exit status %s); starting another",
                    process.pid,
                    process.exitcode,
                )
                self.processes[at] = self._spawn()

    def stop(self) -> None:
        """Ask every worker to stop after the message in flight, and wait for them."""
        self.halt.set()
        for process in self.processes:
            process.join(STOP_TIMEOUT)
            if process.exitcode is None:
                log.error("delivery worker %s did not stop; terminating it", process.pid)
                process.terminate()
                process.join()


def deliver_forever(settings: Settings, halt: Event) -> None:
    """A worker process: deliver whatever is due, until told to stop or the service is gone."""
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    stopping = threading.Event()

    def stop_on_signal(signum: int, _frame: object) -> None:
        # systemd signals every process of the service: finish the message in flight first.
        stopping.set()

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)

    def stop() -> bool:
        gone = settings.parent is not None and os.getppid() != settings.parent
        return stopping.is_set() or halt.is_set() or gone

    engine = create_db_engine(settings.database_url)
    try:
        _loop(settings, engine, stop, lambda seconds: halt.wait(seconds) or stopping.is_set())
    finally:
        engine.dispose()


LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def _loop(
    settings: Settings,
    engine: Engine,
    stop: Callable[[], bool],
    wait: Callable[[float], bool],
) -> None:
    transport: Transport | None = None
    workers: dict[int, Worker] = {}
    idle_since = 0.0
    backoff = 0.0
    try:
        while not stop():
            handled = 0
            try:
                due = mailings_with(engine, ("queued",), due_by=settings.clock())
                # A worker keeps each mailing's message templates while it has messages due.
                workers = {id_: workers[id_] for id_, _, _ in due if id_ in workers}
                for mailing_id, uid, issue in due:
                    if stop():
                        break
                    if transport is None:
                        transport = open_transport(
                            settings.config.transport_url, settings.secrets, settings.root
                        )
                    worker = workers.get(mailing_id)
                    if worker is None or worker.transport is not transport:
                        worker = workers[mailing_id] = Worker(
                            _job(settings, mailing_id, uid), engine, transport
                        )
                    sent = worker.run(stop)
                    if sent:
                        done, total = progress(engine, mailing_id)
                        log.info(
                            "%s: %d messages handled; %d of %d final", issue, sent, done, total
                        )
                    handled += sent
                backoff = 0.0
            except NewsletterError as error:
                # An unreachable server, a refused login: the deliveries stay queued; try later.
                backoff = min(max(backoff * 2, 2.0), MAX_BACKOFF)
                log.error("delivering: %s; trying again in %.0f s", error, backoff)
                _close(transport)
                transport = None
                wait(backoff)
                continue
            if handled:
                idle_since = 0.0
                continue
            idle_since = idle_since or time.monotonic()
            if transport is not None and time.monotonic() - idle_since > IDLE_CLOSE:
                _close(transport)
                transport = None
            wait(POLL)
    finally:
        _close(transport)


def _job(settings: Settings, mailing_id: int, uid: str) -> Job:
    return Job(
        config=settings.config, secrets=settings.secrets, root=settings.root,
        database_url=settings.database_url, mailing_id=mailing_id, mailing_uid=uid,
        rate=settings.rate, parent=settings.parent, clock=settings.clock,
    )  # fmt: skip


def _close(transport: Transport | None) -> None:
    if transport is not None:
        transport.close()
