"""One pass over the sequences: who entered and left, and each due step queued in the outbox.

`newsletter run` makes a pass every PASS_EVERY seconds in the process that leads the schedule;
its delivery workers send what was queued like any other mailing's messages. Each version of
a step is rendered once, into a mailing of its own (`sequence:NAME/STEP@VERSION`), the first
time someone is due for it: `newsletter status` shows it beside the issues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from newsletter.config import Project
from newsletter.db import lock_for_writing
from newsletter.deliver.models import Mailing
from newsletter.sequences.files import Sequence, Step, load_sequences
from newsletter.sequences.progress import (
    due_members,
    enter_confirmed,
    leave_inactive,
    note_steps,
    queue_step,
)

log = logging.getLogger(__name__)
PASS_EVERY = 5.0
"""Seconds between passes: a new subscriber gets the first step within seconds of confirming,
for a few indexed queries per sequence and step each time."""
TOLD = 100


@dataclass(frozen=True)
class Pass:
    """What one pass did in one sequence."""

    sequence: str
    entered: int
    left: int
    queued: dict[str, int]
    """Deliveries queued now, by step."""


def queue_due_steps(
    project: Project, engine: Engine, now: datetime, sequences: list[Sequence] | None = None
) -> list[Pass]:
    """Enter the newly confirmed, let the unsubscribed leave, and queue every step due at `now`
    in every sequence (`sequences`, when already read); ContentError for a broken step file
    (nothing of its sequence is queued)."""
    found = load_sequences(project) if sequences is None else sequences
    return [_pass(project, engine, sequence, now) for sequence in found]


def _pass(project: Project, engine: Engine, sequence: Sequence, now: datetime) -> Pass:
    with engine.begin() as connection:
        lock_for_writing(connection)
        seen = note_steps(connection, sequence.steps, now)
        started = min(seen.values(), default=now)
        entered = enter_confirmed(connection, sequence.name, started, now)
        left = leave_inactive(connection, sequence.name, now)
    queued: dict[str, int] = {}
    for step in sequence.steps:
        if step.draft:
            continue
        with engine.connect() as connection:
            members = due_members(connection, step, sequence.later_than(step), seen[step.key], now)
        if members:
            mailing = step_mailing(project, engine, step, now)
            queued[step.key] = queue_step(
                engine, step, mailing, members, default_locale=_fallback(project, step), now=now
            )
    done = Pass(sequence.name, entered, left, {k: n for k, n in queued.items() if n})
    if entered or left or done.queued:
        log.info(
            "sequence %s: %d entered, %d left, queued %s", sequence.name, entered, left,
            ", ".join(f"{key}: {count}" for key, count in done.queued.items()) or "nothing",
        )  # fmt: skip
    return done


def step_mailing(project: Project, engine: Engine, step: Step, now: datetime) -> Mailing:
    """The mailing of this version of the step: rendered and stored the first time."""
    from newsletter.content.git import content_commit
    from newsletter.deliver.report import find_mailing
    from newsletter.deliver.sending import store_mailing
    from newsletter.sends import editions, link_tracking

    found = find_mailing(engine, step.mailing_name)
    if found is not None:
        return found
    made = editions(project, step.issue, web_version=False)
    commit, dirty = content_commit(step.issue.path)
    told = step.to if len(step.to) <= TOLD else step.to[: TOLD - 3] + "..."
    return store_mailing(
        engine, step.mailing_name, made, commit=commit, dirty=dirty, told=told, now=now,
        prepare=link_tracking(project, made),
    )  # fmt: skip


def _fallback(project: Project, step: Step) -> str:
    from newsletter.sends import fallback_locale

    return fallback_locale(project, step.issue)


@dataclass
class Passes:
    """Passes every PASS_EVERY seconds (for `newsletter run`), a broken file reported once."""

    project: Project
    engine: Engine
    clock: Callable[[], datetime]
    last: float = float("-inf")
    problem: str = ""
    read: tuple[str, list[Sequence]] = ("", [])
    """The sequences as last read, and the fingerprint of their files then: a pass every few
    seconds reads and parses the steps again only when one of their files changed."""

    def tick(self, monotonic: float) -> None:
        """Make a pass if PASS_EVERY seconds went by since the last one."""
        from newsletter.errors import NewsletterError

        if monotonic - self.last < PASS_EVERY:
            return
        self.last = monotonic
        try:
            queue_due_steps(self.project, self.engine, self.clock(), self._sequences())
        except NewsletterError as error:
            if str(error) != self.problem:  # Said once, not every pass, until it changes.
                log.error("sequences: %s", error)
            self.problem = str(error)
            return
        self.problem = ""

    def _sequences(self) -> list[Sequence]:
        from newsletter.files import fingerprint

        now = fingerprint([self.project.sequences_path])
        if now != self.read[0]:  # Kept only once read whole: a broken file is read again.
            self.read = (now, load_sequences(self.project))
        return self.read[1]
