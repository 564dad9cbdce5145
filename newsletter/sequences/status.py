"""Who is where in a sequence: `newsletter sequence status`, and putting subscribers in.

Counts come from GROUP BY queries over the sequence's own rows; a member's place is the last
step they were sent (by step number), found from one row per member and step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from newsletter.audience.targets import Target
from newsletter.deliver.models import DELIVERY, MAILING, Mailing
from newsletter.errors import NotFoundError
from newsletter.sequences.files import Sequence
from newsletter.sequences.models import SEQUENCE_DELIVERY, SEQUENCE_MEMBER
from newsletter.sequences.progress import enter
from newsletter.subscribers.models import SUBSCRIBER


@dataclass
class StepStatus:
    """One step: how it is written now and what became of its deliveries (all versions)."""

    key: str
    after: str
    to: str
    draft: bool
    mailing: str
    """The name of its current version's mailing (`newsletter status` takes it)."""
    reached: int = 0
    """Members whose last step so far is this one."""
    states: dict[str, int] = field(default_factory=dict)
    """Its deliveries by state (queued, sending, sent, failed, skipped)."""


@dataclass
class SequenceStatus:
    """A sequence: its members and where they are."""

    name: str
    members: int = 0
    """In the sequence now."""
    left: int = 0
    """Left it (unsubscribed, bounced, complained)."""
    waiting: int = 0
    """In it, and sent no step yet."""
    steps: list[StepStatus] = field(default_factory=list)


def sequence_status(engine: Engine, sequence: Sequence) -> SequenceStatus:
    """Where the members of `sequence` are, and each step's deliveries by state."""
    member, sent = SEQUENCE_MEMBER, SEQUENCE_DELIVERY
    status = SequenceStatus(sequence.name)
    numbers = {step.key: step.number for step in sequence.steps}
    last: dict[int, str] = {}
    with engine.connect() as connection:
        counts = connection.execute(
            select(member.c.left_at.is_(None), func.count())
            .where(member.c.sequence == sequence.name)
            .group_by(member.c.left_at.is_(None))
        ).all()
        for inside, count in counts:
            if inside:
                status.members = count
            else:
                status.left = count
        states = connection.execute(
            select(sent.c.step, DELIVERY.c.state, func.count())
            .join(DELIVERY, DELIVERY.c.id == sent.c.delivery_id)
            .where(sent.c.sequence == sequence.name)
            .group_by(sent.c.step, DELIVERY.c.state)
        ).all()
        places = connection.execute(
            select(sent.c.subscriber_id, sent.c.step)
            .join(
                member,
                (member.c.sequence == sent.c.sequence)
                & (member.c.subscriber_id == sent.c.subscriber_id),
            )
            .where(sent.c.sequence == sequence.name, member.c.left_at.is_(None))
        ).all()
    for subscriber_id, step in places:
        before = last.get(subscriber_id)
        if before is None or numbers.get(step, -1) > numbers.get(before, -1):
            last[subscriber_id] = step
    reached = Counter(last.values())
    status.waiting = status.members - len(last)
    by_step: dict[str, dict[str, int]] = {}
    for step, state, count in states:
        by_step.setdefault(step, {})[state] = count
    for step in sequence.steps:
        status.steps.append(
            StepStatus(
                key=step.key,
                after=_delay(step.after.total_seconds()),
                to=step.to,
                draft=step.draft,
                mailing=step.mailing_name,
                reached=reached.get(step.key, 0),
                states=by_step.get(step.key, {}),
            )
        )
    return status


def step_mailing_named(engine: Engine, name: str) -> Mailing:
    """The mailing `sequence:NAME/STEP@VERSION`, or the latest version's for `sequence:NAME/STEP`;
    NotFoundError when no member was sent that step yet."""
    query = select(MAILING.c.id).order_by(MAILING.c.id.desc()).limit(1)
    if "@" in name:
        query = query.where(MAILING.c.issue == name)
    else:
        query = query.where(MAILING.c.issue.startswith(name.rstrip("/") + "@", autoescape=True))
    with engine.connect() as connection:
        found = connection.execute(query).scalar()
    if found is None:
        raise NotFoundError(
            f"no send of {name!r} yet",
            hint="run `newsletter sequence status` to see the steps and what was sent",
        )
    with Session(engine) as session:
        mailing = session.get(Mailing, found)
        assert mailing is not None
        return mailing


def enter_segment(engine: Engine, sequence: Sequence, to: Target | None, now: datetime) -> int:
    """Active subscribers (of the segment `to`) enter the sequence now; how many entered."""
    query = select(SUBSCRIBER.c.id).where(SUBSCRIBER.c.status == "active")
    if to is not None:
        query = query.where(to.condition())
    with engine.connect() as connection:
        ids = list(connection.execute(query).scalars())
    return enter(engine, sequence.name, ids, "entered", now)


def enter_created(engine: Engine, sequence: Sequence, since: datetime, now: datetime) -> int:
    """Active subscribers created since `since` (by an import) enter the sequence now."""
    query = select(SUBSCRIBER.c.id).where(
        SUBSCRIBER.c.status == "active", SUBSCRIBER.c.created_at >= since
    )
    with engine.connect() as connection:
        ids = list(connection.execute(query).scalars())
    return enter(engine, sequence.name, ids, "imported", now)


def subscriber_sequences(engine: Engine, subscriber_id: int) -> list[dict[str, Any]]:
    """The sequences one subscriber is or was in, and each step they were sent with its state
    (part of what `subscribers show` tells them about themselves)."""
    member, sent = SEQUENCE_MEMBER, SEQUENCE_DELIVERY
    with engine.connect() as connection:
        memberships = connection.execute(
            select(member.c.sequence, member.c.entered_at, member.c.how, member.c.left_at)
            .where(member.c.subscriber_id == subscriber_id)
            .order_by(member.c.entered_at, member.c.sequence)
        ).all()
        steps = connection.execute(
            select(sent.c.sequence, sent.c.step, sent.c.queued_at, DELIVERY.c.state)
            .outerjoin(DELIVERY, DELIVERY.c.id == sent.c.delivery_id)
            .where(sent.c.subscriber_id == subscriber_id)
            .order_by(sent.c.queued_at, sent.c.step)
        ).all()
    return [
        {
            "sequence": name,
            "entered_at": entered.isoformat(),
            "how": how,
            "left_at": left.isoformat() if left else None,
            "steps": [
                {"step": step, "queued_at": queued.isoformat(), "state": state or "deleted"}
                for of, step, queued, state in steps
                if of == name
            ],
        }
        for name, entered, how, left in memberships
    ]


def _delay(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "at once"
