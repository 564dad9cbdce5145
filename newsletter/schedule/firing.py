"""A schedule fires: the send it is due for is started once, or reported as missed.

    fire          what the leader's scheduler runs when a schedule is due
    claim_firing  the firing's row, made once per (schedule, wall-clock time): the issue it
                  sends is chosen inside that transaction, so a second firing for the same
                  time (DST, a restart, a second leader) finds it and sends nothing new

A firing only queues the send's audience; the delivery workers of every `run` process send it.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from newsletter.audience.targets import Target, target_of, topic_target
from newsletter.config import Config, Project
from newsletter.content.offers import Offer
from newsletter.db import lock_for_writing, patiently, through_outage, utcnow
from newsletter.deliver.audience import LocalTime
from newsletter.deliver.models import MAILING
from newsletter.deliver.report import find_mailing, progress
from newsletter.errors import NewsletterError
from newsletter.model import Issue
from newsletter.schedule.models import FIRING, Firing, FiringState
from newsletter.schedule.notices import notify_editor
from newsletter.schedule.specs import AT_FORMAT, Schedule, wall_time
from newsletter.sends import load_issue, offers, ready_issues, start_send

log = logging.getLogger(__name__)
PATIENCE = 300.0
FIRING_LOCK = 0x6E6C5F66  # Any constant; ours among advisory locks on a shared database.


@dataclass
class Firer:
    """What a firing needs: the project, its database, and the time."""

    project: Project
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    scheduled_issues: Callable[[], set[str]] = field(default=set)
    """Issues a one-off schedule will send (a weekly firing leaves them to it)."""
    stop: Callable[[], bool] = field(default=lambda: False)
    """Whether the service is stopping: a firing waiting for its database gives up (it stays
    `started`, and the next leader completes it)."""


def scheduled_send(*context: Any, **spec: Any) -> str:
    """The job every schedule stores: APScheduler calls it with the schedule's settings, and
    the FiringExecutor (store.py) puts the firer, the job's id and the due time ahead of them."""
    firer, job_id, scheduled = context
    return fire(firer, job_id, scheduled, **spec)


def fire(firer: Firer, job_id: str, scheduled: datetime, **spec: Any) -> str:
    """Start the send that the schedule `job_id` is due for at `scheduled`; what happened.

    Late by more than `misfire_grace` (the service was down): recorded and reported as
    missed, not sent. A weekly schedule sends the oldest ready issue not sent yet, or tells
    the editor that none is ready.
    """
    schedule = Schedule(**spec)
    now = firer.clock()
    late = (now - scheduled).total_seconds()
    if late > firer.project.config.misfire_grace:
        return _missed(firer, job_id, schedule, scheduled, late)
    candidates: list[str] = []
    if schedule.kind == "weekly":
        # Read outside the database lock: loading every issue takes a while.
        excluded = firer.scheduled_issues()
        candidates = [i.slug for i in ready_issues(firer.project) if i.slug not in excluded]
    choice = schedule.issue or _first_free(candidates)
    try:
        # A firing that gives up on a busy database (a large import) sends nothing that week.
        firing, new = patiently(
            lambda: claim_firing(firer.engine, job_id, schedule, scheduled, now, choice),
            patience=PATIENCE, pause=2.0, what=job_id,
        )  # fmt: skip
    except (OperationalError, NewsletterError) as error:
        log.error("%s: the database stayed busy; this firing is lost: %s", job_id, error)
        raise
    wall = firing.wall_time
    if not new and firing.state != FiringState.STARTED:
        log.info(
            "%s for %s fired before (%s %s): nothing to do", job_id, wall, firing.state,
            firing.issue,
        )  # fmt: skip
        return f"fired before: {firing.state}"
    if not firing.issue:
        log.warning("%s for %s: no issue is ready to send", job_id, wall)
        notify_editor(
            firer.project,
            f"No issue ready for the send of {wall[:16]}",
            f"The schedule {job_id} ({schedule.describe()}) fired for {wall[:16]}, and no issue "
            "is ready: nothing was sent.\n\nMark the next issue ready (status: ready in its front "
            "matter); it goes out at the next firing, or now with `newsletter send ISSUE`.\n",
            now,
        )
        return "no issue ready"
    if not new:
        log.info("%s for %s: completing the send of %s started before", job_id, wall, firing.issue)
    return _send(firer, firing, schedule)


def complete_interrupted(firer: Firer) -> int:
    """Fire again the firings whose leader was killed half-way (still `started`); how many.

    The scheduler moved on to the schedule's next time when it started them, so nothing else
    would: a new leader calls this before its scheduler starts. The firing finds its record
    and completes the send with the same issue, or records it missed if that is too late now.
    """
    with firer.engine.connect() as connection:
        rows = connection.execute(select(FIRING).where(FIRING.c.state == FiringState.STARTED)).all()
    for row in rows:
        firing = Firing(**row._mapping)
        log.warning("%s for %s: interrupted; firing again", firing.job_id, firing.wall_time)
        fire(firer, firing.job_id, firing.scheduled_at, **json.loads(firing.schedule))
    return len(rows)


def _first_free(candidates: Sequence[str]) -> Callable[[set[str]], str]:
    """The first candidate not taken yet ("" when all are)."""

    def choose(taken: set[str]) -> str:
        return next((slug for slug in candidates if slug not in taken), "")

    return choose


def claim_firing(
    engine: Engine,
    job_id: str,
    schedule: Schedule,
    scheduled: datetime,
    now: datetime,
    issue: str | Callable[[set[str]], str],
    state: FiringState | None = None,
    detail: str = "",
) -> tuple[Firing, bool]:
    """The firing of `job_id` for the wall-clock time of `scheduled`, and whether it is new.

    A new firing's issue is `issue`, or chosen by it among the issues no mailing or other
    firing has taken, one firing at a time: two firings never pick the same one. Its state is
    `state` (with `detail`), else `started` (or `no-issue`).
    """
    wall = wall_time(schedule, scheduled).strftime(AT_FORMAT)
    key = (FIRING.c.job_id == job_id, FIRING.c.wall_time == wall)
    try:
        with engine.begin() as connection:
            _serialize(connection)
            found = connection.execute(select(FIRING).where(*key)).first()
            if found is not None:
                return Firing(**found._mapping), False
            if callable(issue):
                issue = issue(_taken(connection))
            firing = Firing(
                job_id=job_id, wall_time=wall, scheduled_at=scheduled, fired_at=now, issue=issue,
                state=state or (FiringState.STARTED if issue else FiringState.NO_ISSUE),
                detail=detail, schedule=json.dumps(schedule.kwargs()),
            )  # fmt: skip
            values = firing.model_dump(exclude={"id"})
            firing.id = connection.execute(insert(FIRING).values(values)).inserted_primary_key[0]  # type: ignore[index]
            return firing, True
    except IntegrityError:
        # PostgreSQL: another leader inserted the same firing meanwhile.
        with engine.connect() as connection:
            return Firing(**connection.execute(select(FIRING).where(*key)).one()._mapping), False


def _serialize(connection: Connection) -> None:
    """One firing transaction at a time: SQLite's write lock; on PostgreSQL an advisory lock
    held until commit (its row locks cannot stop two firings choosing the same issue)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FIRING_LOCK})
    else:
        lock_for_writing(connection)


def _taken(connection: Connection) -> set[str]:
    sent = connection.execute(select(MAILING.c.issue)).scalars()
    chosen = connection.execute(
        select(FIRING.c.issue).where(FIRING.c.state.in_((FiringState.STARTED, FiringState.QUEUED)))
    ).scalars()
    return {*sent, *chosen}


def _send(firer: Firer, firing: Firing, schedule: Schedule) -> str:
    """Render the firing's issue and queue its audience; the firing records the outcome."""
    assert firing.id is not None
    wall = firing.wall_time
    what = f"{firing.job_id} for {wall}: {firing.issue}"
    finish = functools.partial(_finish, firer.engine, firing.id)
    try:
        issue = load_issue(firer.project, firing.issue)
        # The editions are chosen when the mailing is made: say which, and why, then only.
        editions = through_outage(
            lambda: [] if find_mailing(firer.engine, issue.slug) else _editions(firer, issue),
            what,
            firer.stop,
        )
        local = LocalTime(wall_time(schedule, firing.scheduled_at), schedule.zone)
        # A database server that goes away meanwhile (a restart) is waited for: the mailing
        # is stored whole or not at all, its audience in parts that queueing it again skips.
        mailing, added = through_outage(
            lambda: start_send(
                firer.project, firer.engine, issue, clock=firer.clock,
                to=_target(schedule, firer.project.config),
                local_time=local if schedule.local_time else None,
            ),
            what, firer.stop,
        )  # fmt: skip
    except Exception as error:
        through_outage(functools.partial(finish, FiringState.FAILED, str(error)), what, firer.stop)
        if not isinstance(error, NewsletterError):
            log.exception("%s for %s: sending %s failed", firing.job_id, wall, firing.issue)
        else:
            log.error("%s for %s: sending %s failed: %s", firing.job_id, wall, firing.issue, error)
        notify_editor(
            firer.project,
            f"The send of {firing.issue} failed",
            f"The schedule {firing.job_id} fired for {wall[:16]} to send {firing.issue}, and "
            f"the send could not start, or not queue all its readers:\n\n  {error}\n\n"
            f"Fix it, then send it with `{_send_command(firing.issue, schedule)}`: it queues "
            "whoever of the schedule's readers it has not queued yet, nobody twice.\n",
            firer.clock(),
        )
        return FiringState.FAILED
    when = " at each reader's local time" if schedule.local_time else ""
    detail = "; ".join(
        [
            f"{added} recipients queued{when} (mailing {mailing.id})",
            *(o.describe() for o in editions),
        ]
    )
    through_outage(functools.partial(finish, FiringState.QUEUED, detail), what, firer.stop)
    log.info("%s for %s: sending %s: %s", firing.job_id, wall, firing.issue, detail)
    if held := [offer.describe() for offer in editions if not offer.offered]:
        notify_editor(
            firer.project,
            f"{firing.issue} went out without some of its translations",
            f"The schedule {firing.job_id} fired for {wall[:16]} and queued {firing.issue}. "
            "These editions are held back by the translation policy (min_translated_share), "
            "and their readers get the edition named:\n\n"
            + "".join(f"  {line}\n" for line in held),
            firer.clock(),
        )
    return detail


def _editions(firer: Firer, issue: Issue) -> list[Offer]:
    """The issue's editions, offered or not, each logged with the reason."""
    found = list(offers(firer.project, issue).values())
    for offer in found:
        log.log(
            logging.INFO if offer.offered else logging.WARNING,
            "%s: %s",
            issue.slug,
            offer.describe(),
        )
    return found


def _missed(firer: Firer, job_id: str, schedule: Schedule, scheduled: datetime, late: float) -> str:
    """Record a firing too late to send (or one interrupted until too late), tell the editor."""
    now = firer.clock()
    grace = firer.project.config.misfire_grace
    detail = f"missed by {late / 60:.0f} minutes (the grace period is {grace / 60:.0f})"
    firing, new = claim_firing(
        firer.engine, job_id, schedule, scheduled, now, schedule.issue, FiringState.MISSED, detail
    )
    if not new and firing.state != FiringState.STARTED:
        return f"fired before: {firing.state}"
    if not new and _started(firer.engine, firing.issue):
        # Interrupted once part of its audience was queued (those readers may have it by
        # now): completed however late, so that the rest of the audience gets it too.
        wall, issue = firing.wall_time, firing.issue
        log.warning("%s for %s: completing the interrupted send of %s", job_id, wall, issue)
        return _send(firer, firing, schedule)
    if not new:  # Interrupted half-way, and too late now to complete.
        assert firing.id is not None
        _finish(firer.engine, firing.id, FiringState.MISSED, detail)
    wall, what = firing.wall_time, firing.issue or "the weekly issue"
    log.warning("%s for %s: %s, so %s was not sent", job_id, wall, detail, what)
    notify_editor(
        firer.project,
        f"The send of {wall[:16]} was missed",
        f"The schedule {job_id} ({schedule.describe()}) was due at {wall[:16]}, when no "
        f"`newsletter run` was running; it started {detail}, so nothing was sent.\n\n"
        f"Send it now with `newsletter send {firing.issue or 'ISSUE'}` if it is still timely.\n",
        now,
    )
    return FiringState.MISSED


def _started(engine: Engine, issue: str) -> bool:
    """Whether the send of `issue` has queued anyone."""
    mailing = find_mailing(engine, issue) if issue else None
    return mailing is not None and progress(engine, mailing.id or 0)[1] > 0


def _finish(engine: Engine, firing_id: int, state: FiringState, detail: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(FIRING).where(FIRING.c.id == firing_id).values(state=state, detail=detail[:1000])
        )


def last_firings(engine: Engine, job_ids: Sequence[str]) -> dict[str, Firing]:
    """The latest firing of each of these schedules that has fired, by schedule id."""
    latest = (
        select(func.max(FIRING.c.id))
        .where(FIRING.c.job_id.in_(list(job_ids)))
        .group_by(FIRING.c.job_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(select(FIRING).where(FIRING.c.id.in_(latest)))
        return {row.job_id: Firing(**row._mapping) for row in rows}


def firings(engine: Engine, job_ids: Sequence[str] | None = None, limit: int = 20) -> list[Firing]:
    """The latest firings, newest first (of these schedules only, when given)."""
    query = select(FIRING).order_by(FIRING.c.scheduled_at.desc(), FIRING.c.id.desc()).limit(limit)
    if job_ids is not None:
        query = query.where(FIRING.c.job_id.in_(list(job_ids)))
    with engine.connect() as connection:
        return [Firing(**row._mapping) for row in connection.execute(query)]


def _send_command(issue: str, schedule: Schedule) -> str:
    """`newsletter send` of `issue` to the schedule's readers: without its --to or --tag, the
    command would queue everyone (and the readers of the schedule left marked for a resume)."""
    audience = (
        ["--to", schedule.to] if schedule.to else ["--tag", schedule.tag] if schedule.tag else []
    )
    return shlex.join(["newsletter", "send", issue, *audience])


def _target(schedule: Schedule, config: Config) -> Target | None:
    """The audience of a schedule's sends: its segment (read again now: a named one may have
    changed), its tag, or everyone."""
    if schedule.to:
        return target_of(schedule.to, config, "the schedule's segment")
    return topic_target(schedule.tag, config) if schedule.tag else None
