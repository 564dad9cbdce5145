"""The schedules, kept by APScheduler in the project database (its SQLAlchemy job store).

    scheduler_for  an APScheduler BackgroundScheduler on the project's job store
    editing        the job store opened to change it, not to run it (the CLI)
    add, remove, pause, resume, planned
                   what `newsletter schedule` does

Only the `newsletter run` process that leads the schedule runs a scheduler (two schedulers on
one job store would both fire every job). Commands change the jobs through a scheduler that is
paused, so it never fires anything; the leader reads the job store again every second.
"""

from __future__ import annotations

import copy
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from newsletter.config import Config
from newsletter.errors import ConflictError, NewsletterError, NotFoundError
from newsletter.schedule.models import JOBS
from newsletter.schedule.specs import Schedule, trigger_of

FIRE = "newsletter.schedule.firing:scheduled_send"


class FiringExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """Runs a firing in a thread with what it needs: the firing context, the job's id and the
    time it was due (APScheduler passes only the job's own arguments).

    The misfire check is the firing's own (it records and reports a missed send); APScheduler
    coalesces the run times, so a firing gets only the latest one.
    """

    def __init__(self, context: Any) -> None:
        super().__init__(max_workers=2)
        self.context = context

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        stamped = copy.copy(job)
        stamped._jobstore_alias = job._jobstore_alias
        stamped.args = (self.context, job.id, run_times[-1])
        stamped.misfire_grace_time = None
        super()._do_submit_job(stamped, run_times[-1:])


class LeaderJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The job store as the leading scheduler writes it: schedule commands may change a job
    between the moment the scheduler reads it as due and the moment it writes it back.

    APScheduler writes the job's next time back after handing it to the executor, and removes
    a one-off. A command that cancelled the job meanwhile must not make that fail (the error
    would end the scheduler's thread), and one that paused or resumed it must not be undone:
    the write-back applies only while the job is still as it was read, due.
    """

    def update_job(self, job: Any) -> None:
        import pickle
        import time

        from apscheduler.util import datetime_to_utc_timestamp

        statement = (
            self.jobs_t.update()
            .values(
                next_run_time=datetime_to_utc_timestamp(job.next_run_time),
                job_state=pickle.dumps(job.__getstate__(), self.pickle_protocol),
            )
            .where(
                self.jobs_t.c.id == job.id,
                self.jobs_t.c.next_run_time.is_not(None),
                self.jobs_t.c.next_run_time <= time.time(),
            )
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def remove_job(self, job_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(self.jobs_t.delete().where(self.jobs_t.c.id == job_id))


class EditingScheduler(BackgroundScheduler):  # type: ignore[misc]
    """A scheduler that never processes jobs: the schedule commands' view of the job store.

    Starting it paused is not enough: `shutdown` sets the state to stopped, not paused, and
    APScheduler 3.11's thread, woken by the last change, then looks for due jobs once more. It
    would hand a due schedule to an executor that has shut down (an error in a thread) or
    remove a one-off that only the leader may fire.
    """

    def _process_jobs(self) -> None:
        return None


def scheduler_for(
    engine: Engine, config: Config, context: Any = None, *, editing: bool = False
) -> BackgroundScheduler:
    """A scheduler on the project's job store; its firings get `context` (the leader's); with
    `editing`, one that never processes jobs (EditingScheduler)."""
    store = LeaderJobStore if context is not None else SQLAlchemyJobStore
    kind = EditingScheduler if editing else BackgroundScheduler
    return kind(
        jobstores={"default": store(engine=engine, tablename=JOBS.name)},
        executors={"default": FiringExecutor(context)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=zoneinfo.ZoneInfo(config.timezone),
    )


@contextmanager
def editing(engine: Engine, config: Config) -> Iterator[BackgroundScheduler]:
    """The job store, opened through a scheduler that never fires: jobs can be read and
    changed, and none is run or removed behind the command's back.

    APScheduler 3.11's scheduler thread may still touch the job store once after shutdown (and
    after the job store disposed the engine): the caller disposes its engine when done.
    """
    scheduler = scheduler_for(engine, config, editing=True)
    try:
        scheduler.start(paused=True)
        try:
            yield scheduler
        finally:
            scheduler.shutdown(wait=False)
    except JobLookupError as error:
        # The leader fired a one-off and removed it while this command was looking at it.
        raise NewsletterError(
            f"{error}: it was removed meanwhile (a one-off schedule goes once it has fired)",
            hint="`newsletter schedule list` shows what is left",
        ) from None
    except OperationalError as error:
        raise NewsletterError(
            f"the database is busy or unreachable: {error.orig}",
            hint="try again in a moment",
        ) from None


@dataclass(frozen=True)
class Planned:
    """A schedule as `schedule list` shows it."""

    id: str
    schedule: Schedule
    next_run: datetime | None
    """Aware, on the schedule's clock; None while paused."""


def add(scheduler: BackgroundScheduler, schedule: Schedule, now: datetime) -> Planned:
    """Store the schedule as a job; NewsletterError if its time has passed or its id is taken."""
    trigger = trigger_of(schedule)
    first = trigger.get_next_fire_time(None, now)
    if first is None or first <= now:
        raise NewsletterError(
            f"{schedule.at[:16]} {schedule.zone} has passed", hint="give a time in the future"
        )
    try:
        job = scheduler.add_job(
            FIRE, trigger=trigger, id=schedule.job_id, name=schedule.describe(),
            kwargs=schedule.kwargs(),
        )  # fmt: skip
    except ConflictingIdError:
        raise ConflictError(
            f"schedule {schedule.job_id} exists already",
            hint=f"cancel it first: newsletter schedule cancel {schedule.job_id}",
        ) from None
    return _planned(job)


def planned(scheduler: BackgroundScheduler) -> list[Planned]:
    """Every schedule, the next to fire first (paused ones last)."""
    never = datetime.max.replace(tzinfo=UTC)
    jobs = [_planned(job) for job in scheduler.get_jobs()]
    return sorted(jobs, key=lambda p: (p.next_run or never, p.id))


def remove(scheduler: BackgroundScheduler, job_id: str) -> Planned:
    """Delete a schedule; the one deleted."""
    found = find(scheduler, job_id)
    scheduler.remove_job(job_id)
    return found


def pause(scheduler: BackgroundScheduler, job_id: str) -> Planned:
    """Stop a schedule from firing until it is resumed."""
    find(scheduler, job_id)
    return _planned(scheduler.pause_job(job_id))


def resume(scheduler: BackgroundScheduler, job_id: str) -> Planned:
    """Let a paused schedule fire again, from its next time on (missed times are skipped)."""
    find(scheduler, job_id)
    job = scheduler.resume_job(job_id)
    if job is None:  # A one-off whose time passed while paused: APScheduler removed it.
        raise NewsletterError(
            f"schedule {job_id} was paused past its time and is gone",
            hint="schedule the issue again with `newsletter schedule add`",
        )
    return _planned(job)


def find(scheduler: BackgroundScheduler, job_id: str) -> Planned:
    """The schedule with this id; NewsletterError naming the ones there are if none."""
    job = scheduler.get_job(job_id)
    if job is None:
        ids = ", ".join(p.id for p in planned(scheduler)) or "none"
        raise NotFoundError(
            f"no schedule {job_id!r}", hint=f"`newsletter schedule list` shows them (now: {ids})"
        )
    return _planned(job)


def scheduled_issues(scheduler: BackgroundScheduler) -> set[str]:
    """Issues that a one-off schedule will send: the weekly schedule leaves them alone."""
    return {p.schedule.issue for p in planned(scheduler) if p.schedule.kind == "once"}


def _planned(job: Any) -> Planned:
    return Planned(job.id, Schedule(**job.kwargs), job.next_run_time)
