"""The delivery workers of `newsletter run`: one process per SMTP connection, for every mailing.

Each worker process loops: find the mailings with deliveries due, deliver them (deliver/worker.py
does the claiming, sending and recording), and wait when nothing is due: until deliveries are
queued anywhere (deliver/wakeup.py: a send starts at once, on every host) or for POLL seconds
at most, so that deliveries due later (retries, local-time sends) go when their time comes.

Workers are started with `spawn`: the service runs threads (scheduler, web server), and a
forked child would inherit their locks and SQLite's per-process state. A worker stops when the
pool tells it to or when the service process is gone; either way it records what it sent and
gives back the claims it did not send. The pool starts a worker again when one dies.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine

from newsletter.db import create_db_engine
from newsletter.deliver.halt import Halt
from newsletter.deliver.models import DeliveryState
from newsletter.deliver.report import mailings_with, progress
from newsletter.deliver.transports import Transport, open_transport
from newsletter.deliver.wakeup import doorbell
from newsletter.deliver.worker import Job, Worker
from newsletter.errors import NewsletterError
from newsletter.service.logs import configure_logging

log = logging.getLogger(__name__)
POLL = 1.0
IDLE_CLOSE = 30.0  # Seconds without work after which a worker closes its SMTP connection.
MAX_BACKOFF = 60.0
STOP_TIMEOUT = 60.0


class WorkerPool:
    """`size` worker processes, started again when one dies, stopped on request.

    Each gets `job` (plain values: it is pickled to the spawned process) with the mailing of
    each send it delivers filled in.
    """

    def __init__(self, job: Job, size: int, log_level: int = logging.INFO) -> None:
        self.job = replace(job, parent=os.getpid())
        self.size, self.log_level = size, log_level
        self.context = multiprocessing.get_context("spawn")
        self.halt = Halt(self.context)  # Not an Event: see deliver/halt.py.
        self.processes: list[BaseProcess] = []

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> BaseProcess:
        process = self.context.Process(
            target=deliver_forever,
            args=(self.job, self.log_level, self.halt),
            name="delivery-worker",
        )
        # Ctrl+C in a terminal reaches every process of the group, a worker still importing
        # too: it starts with SIGINT ignored (inherited through exec) until deliver_forever
        # handles it, and stops when the service, which got the same Ctrl+C, halts it.
        main = threading.current_thread() is threading.main_thread()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            process.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, handler)
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
                # Stuck (a server that never answers): killed; its claims are requeued by
                # the next `run` or `send --resume` on this host at once, elsewhere after the lease.
                log.error("delivery worker %s did not stop; killing it", process.pid)
                process.kill()
                process.join(5.0)


def deliver_forever(job: Job, log_level: int, halt: Halt) -> None:
    """A worker process: deliver whatever is due, until told to stop or the service is gone."""
    configure_logging(log_level)
    stopping = threading.Event()

    def stop_on_signal(signum: int, _frame: object) -> None:
        # systemd signals every process of the service: finish the message in flight first.
        stopping.set()

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)

    def stop() -> bool:
        gone = job.parent is not None and os.getppid() != job.parent
        return stopping.is_set() or halt.is_set() or gone

    engine = create_db_engine(job.database_url)
    bell = doorbell(engine)  # Rung when deliveries are queued: see deliver/wakeup.py.
    # What this fresh interpreter has made so far (its modules, classes, SQLAlchemy's and
    # pydantic's structures) lives as long as it: out of every later collection, as in the
    # commands (cli/context.py). Each full collection walked all of it: 70 to 100 ms, three
    # or four times in a send of 20,000 per worker.
    gc.freeze()
    try:
        _loop(
            job, engine, stop,
            wait=lambda seconds: halt.wait(seconds) or stopping.is_set(),
            idle=lambda seconds: bell.wait(halt, seconds) or stopping.is_set(),
        )  # fmt: skip
    finally:
        bell.close()
        engine.dispose()


def _loop(
    template: Job,
    engine: Engine,
    stop: Callable[[], bool],
    wait: Callable[[float], bool],
    idle: Callable[[float], bool],
) -> None:
    """Deliver what is due until `stop()`; `wait` backs off after an error, `idle` waits for
    work (both return early when stopped; `idle` also when deliveries are announced)."""
    transport: Transport | None = None
    workers: dict[int, Worker] = {}
    idle_since = 0.0
    backoff = 0.0
    try:
        while not stop():
            handled = 0
            try:
                due = mailings_with(engine, (DeliveryState.QUEUED,), due_by=template.clock())
                # A worker keeps each mailing's message templates while it has messages due.
                workers = {id_: workers[id_] for id_, _, _ in due if id_ in workers}
                for mailing_id, uid, issue in due:
                    if stop():
                        break
                    if transport is None:
                        transport = open_transport(
                            template.config.transport_url, template.secrets, template.root
                        )
                    worker = workers.get(mailing_id)
                    if worker is None or worker.transport is not transport:
                        worker = workers[mailing_id] = Worker(
                            replace(template, mailing_id=mailing_id, mailing_uid=uid),
                            engine,
                            transport,
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
            idle(POLL)
    finally:
        _close(transport)


def _close(transport: Transport | None) -> None:
    if transport is not None:
        transport.close()
