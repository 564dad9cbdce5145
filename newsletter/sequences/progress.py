"""Who is in a sequence, which steps are due, and queuing them: each in one SQL statement.

    note_steps       each step's first sighting, recorded once
    enter_confirmed  subscribers who confirmed since the sequence appeared enter it
    enter            given subscribers enter it (an import with --sequence, `sequence enter`)
    leave_inactive   members who unsubscribed, bounced or complained leave it, for good
    due_members      the members a step is due for now
    queue_step       their deliveries and the record of the step, in one transaction

A member gets a step once: `sequence_delivery` is UNIQUE (sequence, step, member) whichever
version of the step it was, and it is written in the transaction that queues the delivery.
A member never gets a step after a later one (they have passed it), nor a step whose time for
them came more than GRACE before the step was first seen (a step added to a running sequence
is not sent to everyone who entered long ago).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.content.offers import readers_edition
from newsletter.db import converter, insert_many, lock_for_writing
from newsletter.deliver.audience import edition_locales, not_suppressed, queue_deliveries
from newsletter.deliver.models import DELIVERY, Mailing
from newsletter.sequences.files import Step
from newsletter.sequences.models import SEQUENCE_DELIVERY, SEQUENCE_MEMBER, SEQUENCE_STEP
from newsletter.subscribers.models import SUBSCRIBER

GRACE = timedelta(days=1)
"""How long before a sequence (or a step) was first seen its time may have come and still count."""
ENTRY_WINDOW = timedelta(days=7)
"""Confirmations looked at on each pass: those of the last week (found through an index)."""


def note_steps(connection: Connection, steps: Sequence[Step], now: datetime) -> dict[str, datetime]:
    """When each of `steps` (of one sequence) was first seen, new ones recorded as seen `now`."""
    if not steps:
        return {}
    name = steps[0].sequence
    table = SEQUENCE_STEP
    query = select(table.c.step, table.c.first_seen).where(table.c.sequence == name)
    seen: dict[str, datetime] = dict(iter(connection.execute(query)))
    new = [step.key for step in steps if step.key not in seen]
    if new:
        stamp = converter(table.c.first_seen.type, connection.dialect)(now)
        rows = [(name, key, stamp) for key in new]
        insert_many(connection, table, ("sequence", "step", "first_seen"), rows, skip_existing=True)
        seen.update(dict.fromkeys(new, now))
    return seen


def enter_confirmed(connection: Connection, sequence: str, started: datetime, now: datetime) -> int:
    """Active subscribers who confirmed since the sequence `started` (less GRACE, and at most
    ENTRY_WINDOW ago) enter it as of their confirmation; how many entered."""
    since = max(started - GRACE, now - ENTRY_WINDOW)
    member = SEQUENCE_MEMBER
    subscriber = SUBSCRIBER
    already = exists().where(
        member.c.sequence == sequence, member.c.subscriber_id == subscriber.c.id
    )
    query = select(
        subscriber.c.id, subscriber.c.confirmed_at
    ).where(
        subscriber.c.confirmed_at >= since,
        subscriber.c.confirmed_at <= now,
        subscriber.c.status == "active",
        ~already,
    )  # fmt: skip
    rows = connection.execute(query).all()
    if not rows:
        return 0
    stamp = converter(member.c.entered_at.type, connection.dialect)
    values = [(sequence, id_, stamp(confirmed), "confirmed") for id_, confirmed in rows]
    names = ("sequence", "subscriber_id", "entered_at", "how")
    return insert_many(connection, member, names, values, skip_existing=True)


def enter(
    engine: Engine, sequence: str, subscriber_ids: Iterable[int], how: str, now: datetime
) -> int:
    """These subscribers enter the sequence now (those in it or who left it before stay as
    they are); how many entered."""
    stamp = converter(SEQUENCE_MEMBER.c.entered_at.type, engine.dialect)(now)
    values = [(sequence, id_, stamp, how) for id_ in subscriber_ids]
    names = ("sequence", "subscriber_id", "entered_at", "how")
    with engine.begin() as connection:
        return insert_many(connection, SEQUENCE_MEMBER, names, values, skip_existing=True)


def leave_inactive(connection: Connection, sequence: str, now: datetime) -> int:
    """Members whose subscription is no longer active leave the sequence; how many left."""
    member = SEQUENCE_MEMBER
    inactive = select(SUBSCRIBER.c.id).where(SUBSCRIBER.c.status != "active")
    result = connection.execute(
        update(member)
        .where(
            member.c.sequence == sequence,
            member.c.left_at.is_(None),
            member.c.subscriber_id.in_(inactive),
        )
        .values(left_at=now)
    )
    return int(result.rowcount or 0)


def due_members(
    connection: Connection, step: Step, later: Sequence[str], first_seen: datetime, now: datetime
) -> list[tuple[int, str]]:
    """(subscriber id, locale) of each member `step` is due for now: in the sequence, active,
    not suppressed, of the step's segment, entered at least `after` ago, never sent this step
    nor a later one, and whose time for it came at most GRACE before the step was first seen."""
    member, sent = SEQUENCE_MEMBER, SEQUENCE_DELIVERY
    subscriber = SUBSCRIBER

    def sent_any(steps: Sequence[str]) -> Any:
        return exists().where(
            sent.c.sequence == step.sequence,
            sent.c.subscriber_id == member.c.subscriber_id,
            sent.c.step.in_(list(steps)),
        )

    query = (
        select(subscriber.c.id, subscriber.c.email_key, subscriber.c.locale)
        .join(subscriber, subscriber.c.id == member.c.subscriber_id)
        .where(
            member.c.sequence == step.sequence,
            member.c.left_at.is_(None),
            member.c.entered_at <= now - step.after,
            member.c.entered_at >= first_seen - step.after - GRACE,
            subscriber.c.status == "active",
            ~sent_any([step.key, *later]),
        )
        .order_by(member.c.entered_at, subscriber.c.id)
    )
    if step.target is not None:
        query = query.where(step.target.condition())
    rows = connection.execute(query).all()
    if not rows:
        return []
    allowed = not_suppressed(connection)  # The suppression list, read once per step.
    return [(id_, locale) for id_, key, locale in rows if allowed(key)]


def queue_step(
    engine: Engine,
    step: Step,
    mailing: Mailing,
    members: Sequence[tuple[int, str]],
    *,
    default_locale: str,
    now: datetime,
) -> int:
    """Queue `mailing` (this version of `step`) to `members` and record the step as theirs, in
    one transaction; how many were queued (0 when another process queued them first)."""
    assert mailing.id is not None
    if not members:
        return 0
    locales = edition_locales(engine, mailing.id)
    if default_locale not in locales:
        default_locale = locales[0]
    chosen: dict[str, str] = {}
    stamp = converter(DELIVERY.c.queued_at.type, engine.dialect)(now)
    rows = []
    for id_, wanted in members:
        if wanted not in chosen:
            chosen[wanted] = readers_edition(wanted, locales, default_locale)
        rows.append((id_, chosen[wanted], stamp))
    records = [
        {"sequence": step.sequence, "step": step.key, "subscriber_id": id_, "queued_at": now}
        for id_, _ in members
    ]
    try:
        with engine.begin() as connection:
            lock_for_writing(connection)
            connection.execute(insert(SEQUENCE_DELIVERY), records)
            queue_deliveries(connection, mailing.id, rows, stamp)
            delivery = (
                select(DELIVERY.c.id)
                .where(
                    and_(
                        DELIVERY.c.mailing_id == mailing.id,
                        DELIVERY.c.subscriber_id == SEQUENCE_DELIVERY.c.subscriber_id,
                    )
                )
                .scalar_subquery()
            )
            connection.execute(
                update(SEQUENCE_DELIVERY)
                .where(
                    SEQUENCE_DELIVERY.c.sequence == step.sequence,
                    SEQUENCE_DELIVERY.c.step == step.key,
                    SEQUENCE_DELIVERY.c.delivery_id.is_(None),
                )
                .values(delivery_id=delivery)
            )
    except IntegrityError:
        return 0  # Another process queued the step to one of them first: its pass stands.
    return len(rows)
