"""`newsletter run`: the long-running service, in one process.

    delivery workers  child processes that send whatever is due (pool.py), in every process
    web app           subscribe, confirm, unsubscribe, preferences, tracking links (a uvicorn
                      thread)
    inbound           the inbound SMTP listener and the poller of bounces, complaints and
                      mailto unsubscribes (inbound.py: an aiosmtpd thread and a poller thread)
    scheduler         APScheduler on the project's job store, only in the process that holds
                      the leader's lease (schedule/leader.py); it fires schedules (firing.py)
    sequences         in the same process, a pass every 5 s queues the welcome and onboarding
                      steps that are due (sequences/queue.py)

The main thread ticks once a second: it renews or takes the lease, starts or stops the
scheduler to match, wakes the scheduler so that it sees schedules added by other commands,
restarts dead workers, records what workers that died had journaled (deliver/journal.py) and
requeues their claims, and logs each send's progress.
SIGTERM or Ctrl-C stops it cleanly: a firing in progress finishes, each worker records the
message in flight and gives back its other claims, the web app writes the clicks it holds, the
lease is released for another process.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.db_schema import require_current
from newsletter.deliver.journal import journal_folder, recover_abandoned
from newsletter.deliver.models import UNFINISHED
from newsletter.deliver.outbox import RetryPolicy, worker_name
from newsletter.deliver.report import mailings_with, progress
from newsletter.deliver.transports import transport_limits
from newsletter.deliver.worker import Job
from newsletter.errors import NewsletterError
from newsletter.schedule.leader import Lease
from newsletter.sends import check_can_send
from newsletter.sequences.queue import Passes
from newsletter.service.inbound import Inbound
from newsletter.service.pool import WorkerPool

log = logging.getLogger(__name__)
TICK = 1.0
REPORT_EVERY = 30.0
WEB_STOP_WAIT = 75.0
"""Seconds the web app may take to stop: its requests finish, its last clicks are written."""


@dataclass
class Options:
    """How `newsletter run` runs."""

    host: str = "127.0.0.1"
    port: int = 8080
    web: bool = True
    log_level: int = logging.INFO
    clock: Callable[[], datetime] = utcnow


def run_service(project: Project, options: Options, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM, Ctrl-C or `stop` is set; return once everything has stopped."""
    stop = stop or threading.Event()
    engine = create_db_engine(database_url(project))
    require_current(engine)
    check_can_send(project)
    journals = journal_folder(project.root, project.config)  # Checked before workers start.
    limits = transport_limits(project.config.transport_url)
    # The pool's template job: each worker fills in the mailing of each send it delivers.
    template = Job.of(
        project, rate=limits.rate, connections=limits.connections, clock=options.clock
    )
    _on_signals(stop)
    pool = WorkerPool(template, limits.connections, options.log_level)
    web = _Web(project, engine, options) if options.web else None
    leading = _Leadership(project, engine, options.clock, stop.is_set)
    policy = RetryPolicy(project.config.retry_delay, project.config.max_attempts)
    sends = _Sends(engine, options.clock, journals, policy)
    sequences = Passes(project, engine, options.clock)
    # Polls the configured mailboxes only while leading, so two services never read one.
    inbound = Inbound(project, engine, options.clock, lambda: leading.scheduler is not None)
    log.info(
        "newsletter run: %d delivery workers, web %s, inbound %s, schedule leader if the lead is free",
        limits.connections,
        f"on http://{options.host}:{options.port}" if web else "off",
        inbound.summary,
    )
    try:
        pool.start()
        if web:
            web.start()
        inbound.start()
        while not stop.is_set():
            try:
                leading.tick()
                if leading.scheduler is not None:
                    sequences.tick(time.monotonic())
                sends.tick()
            except (SQLAlchemyError, NewsletterError) as error:
                # The database is unreachable or busy for longer than its timeout: keep
                # running, try again next tick (without the lead until it can be renewed).
                log.error("database: %s", error)
                leading.step_down()
            if not stop.is_set():  # Workers stopped by the same signal are not replaced.
                pool.watch()
            stop.wait(TICK)
    finally:
        log.info("stopping: finishing the messages in flight")
        leading.step_down(release=True)
        inbound.stop()
        pool.stop()
        if web:
            web.stop()
        sends.tick()
        engine.dispose()
        log.info("stopped")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""systemd's stop, and Ctrl-C."""


def _on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # Embedded (tests): the caller stops it through `stop`.

    def handle(signum: int, _frame: Any) -> None:
        # A handler runs in the main thread, which may be holding the event's lock (going in
        # or out of stop.wait): setting the event here would wait for that lock forever.
        name = signal.Signals(signum).name
        threading.Thread(target=_stop_on, args=(stop, name), name=f"stop on {name}").start()

    for number in STOP_SIGNALS:
        signal.signal(number, handle)


def _stop_on(stop: threading.Event, signal_name: str) -> None:
    log.info("received %s", signal_name)
    stop.set()


@dataclass
class _Leadership:
    """The lease, and the scheduler that runs while this process holds it."""

    project: Project
    engine: Engine
    clock: Callable[[], datetime]
    stopping: Callable[[], bool]
    """Whether the service is stopping: a firing waiting for the database gives up."""
    lease: Lease = field(init=False)
    scheduler: Any = None

    def __post_init__(self) -> None:
        self.lease = Lease(self.engine, worker_name(), self.project.config.leader_lease)

    def tick(self) -> None:
        if self.lease.hold(self.clock()):
            if self.scheduler is not None and not self.scheduler._thread.is_alive():
                # A bug or a database error ended APScheduler's thread: start it afresh.
                log.error("the scheduler stopped unexpectedly; starting it again")
                self._stop()
            if self.scheduler is None:
                self.scheduler = self._start()
                log.info("this process leads the schedule (%s)", self.lease.holder)
            self.scheduler.wakeup()  # Sees schedules that other commands added or changed.
        elif self.scheduler is not None:
            log.warning("another process took the lead of the schedule; stopping the scheduler")
            self._stop()

    def step_down(self, release: bool = False) -> None:
        if self.scheduler is not None:
            self._stop()
        if release:
            try:
                self.lease.release()
            except (SQLAlchemyError, NewsletterError) as error:
                log.error("releasing the lead: %s", error)

    def _start(self) -> Any:
        from newsletter.schedule.firing import Firer, complete_interrupted
        from newsletter.schedule.store import scheduled_issues, scheduler_for

        firer = Firer(self.project, self.engine, self.clock, stop=self.stopping)
        scheduler = scheduler_for(self.engine, self.project.config, firer)
        firer.scheduled_issues = lambda: scheduled_issues(scheduler)
        complete_interrupted(firer)
        scheduler.start()
        return scheduler

    def _stop(self) -> None:
        # Waits for a firing in progress to queue its send (one waiting for the database
        # gives up if the service is stopping: the next leader completes it).
        self.scheduler.shutdown(wait=True)
        self.scheduler = None


@dataclass
class _Sends:
    """Watches the sends in progress: records what dead workers journaled and requeues their
    claims, logs progress and ends."""

    engine: Engine
    clock: Callable[[], datetime]
    journals: Path
    policy: RetryPolicy
    active: dict[int, str] = field(default_factory=dict)
    reported: float = 0.0

    def tick(self) -> None:
        now = self.clock()
        current = {
            id_: issue for id_, _, issue in mailings_with(self.engine, UNFINISHED, queueing=True)
        }
        report = time.monotonic() - self.reported > REPORT_EVERY
        for id_, issue in current.items():
            if recover_abandoned(self.engine, self.journals, id_, self.policy, now):
                log.warning("%s: claims of a stopped worker queued again", issue)
            if report or id_ not in self.active:
                done, total = progress(self.engine, id_)
                log.info("%s: %d of %d deliveries final", issue, done, total)
        for id_, issue in self.active.items():
            if id_ not in current:
                done, total = progress(self.engine, id_)
                log.info("%s: send complete, %d of %d deliveries final", issue, done, total)
        if report:
            self.reported = time.monotonic()
        self.active = current


class _Web:
    """The web app on a uvicorn server in a thread (the main thread keeps the signals)."""

    def __init__(self, project: Project, engine: Engine, options: Options) -> None:
        import uvicorn

        from newsletter.web.app import create_app

        app = create_app(project, engine=engine, clock=options.clock)
        app.state.archive.refresh(force=True)
        config = uvicorn.Config(
            app, host=options.host, port=options.port, proxy_headers=False,  # see create_app
            log_level=logging.getLevelName(options.log_level).lower(), log_config=None,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)
        self.where = f"{options.host}:{options.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10.0
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise NewsletterError(
                    f"the web app could not listen on {self.where}",
                    hint="choose a free --host/--port, or run with --no-web",
                )
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        # The app's lifespan writes the clicks it still holds as it stops, patiently while the
        # database is busy (up to a minute): the thread is a daemon, so leaving earlier would
        # lose them.
        self.thread.join(WEB_STOP_WAIT)
        if self.thread.is_alive():
            log.error(
                "the web app did not stop within %.0f s; its last clicks may be lost", WEB_STOP_WAIT
            )
