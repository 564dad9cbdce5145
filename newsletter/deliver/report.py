"""What a mailing looks like now: counts per state and locale, progress, what is due and what
waits for later, failures; which issues were sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, inspect, or_, select
from sqlmodel import Session, col
from sqlmodel import select as select_models

from newsletter.deliver.models import (
    DELIVERY,
    FINAL,
    MAILING,
    STEP_MAILINGS,
    UNFINISHED,
    DeliveryState,
    Mailing,
)
from newsletter.deliver.tally import tallied, tally_of
from newsletter.subscribers.models import SUBSCRIBER


def find_mailing(engine: Engine, issue: str) -> Mailing | None:
    """The mailing of the issue with this slug, if it was ever sent (here, not beside the
    audience: `newsletter status` imports only this module's light dependencies)."""
    with Session(engine) as session:
        return session.exec(select_models(Mailing).where(col(Mailing.issue) == issue)).first()


def counts(engine: Engine, mailing_id: int) -> dict[tuple[str, str], int]:
    """Deliveries per (locale, state)."""
    with engine.connect() as connection:
        if tallied(connection):
            tally = tally_of(connection, [mailing_id])
            return {(locale, state): count for _, locale, state, count in tally}
        query = (
            select(DELIVERY.c.locale, DELIVERY.c.state, func.count())
            .where(DELIVERY.c.mailing_id == mailing_id)
            .group_by(DELIVERY.c.locale, DELIVERY.c.state)
        )
        return {(locale, state): count for locale, state, count in connection.execute(query)}


def state_counts(engine: Engine, mailing_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries per state of each of these mailings."""
    found: dict[int, dict[str, int]] = {id_: {} for id_ in mailing_ids}
    with engine.connect() as connection:
        for id_, state, count in _per_state(connection, mailing_ids):
            found[id_][state] = found[id_].get(state, 0) + count
    return found


def progress(engine: Engine, mailing_id: int) -> tuple[int, int]:
    """(deliveries final, all deliveries): cheap enough to poll."""
    with engine.connect() as connection:
        states = _per_state(connection, [mailing_id])
    return sum(n for _, state, n in states if state in FINAL), sum(n for _, _, n in states)


def _per_state(connection: Connection, mailing_ids: list[int]) -> list[tuple[int, str, int]]:
    """(mailing id, state, deliveries): from the tally, or one query over the claim index."""
    if tallied(connection):
        return [(id_, state, n) for id_, _, state, n in tally_of(connection, mailing_ids)]
    query = (
        select(DELIVERY.c.mailing_id, DELIVERY.c.state, func.count())
        .where(DELIVERY.c.mailing_id.in_(mailing_ids))
        .group_by(DELIVERY.c.mailing_id, DELIVERY.c.state)
    )
    return [(id_, state, count) for id_, state, count in connection.execute(query)]


def pending(engine: Engine, mailing_id: int, now: datetime) -> tuple[int, datetime | None]:
    """How many deliveries are not final yet, and when the earliest queued one is due; those
    waiting for their reader's local time (see `later`) left out."""
    mine = DELIVERY.c.mailing_id == mailing_id
    unfinished = DELIVERY.c.state.in_(UNFINISHED)
    count = select(func.count()).where(mine, unfinished, ~_for_later(now))
    due = select(func.min(DELIVERY.c.not_before)).where(
        mine, DELIVERY.c.state == DeliveryState.QUEUED, ~_for_later(now)
    )
    with engine.connect() as connection:
        return connection.execute(count).scalar_one(), connection.execute(due).scalar()


def due_counts(engine: Engine, mailing_ids: list[int], now: datetime) -> dict[int, int]:
    """How many deliveries of each of these mailings are not final and not waiting for their
    reader's local time (see `later`): one grouped query. Mailings with none are left out."""
    query = (
        select(DELIVERY.c.mailing_id, func.count())
        .where(
            DELIVERY.c.mailing_id.in_(mailing_ids),
            DELIVERY.c.state.in_(UNFINISHED),
            ~_for_later(now),
        )
        .group_by(DELIVERY.c.mailing_id)
    )
    with engine.connect() as connection:
        return dict(connection.execute(query).all())


def later(engine: Engine, mailing_id: int, now: datetime) -> list[tuple[datetime, int]]:
    """(due time, deliveries) of the first attempts due after `now`: deliveries waiting for
    their reader's local time, which `newsletter run` sends when it comes; earliest first."""
    query = (
        select(DELIVERY.c.not_before, func.count())
        .where(DELIVERY.c.mailing_id == mailing_id, _for_later(now))
        .group_by(DELIVERY.c.not_before)
        .order_by(DELIVERY.c.not_before)
    )
    with engine.connect() as connection:
        return [(due, count) for due, count in connection.execute(query)]


def _for_later(now: datetime) -> Any:
    """Queued and never tried, due after `now` (a retry has attempts; a claim given back is due)."""
    return and_(
        DELIVERY.c.state == DeliveryState.QUEUED,
        DELIVERY.c.attempts == 0,
        DELIVERY.c.not_before > now,
    )


def mailings_with(
    engine: Engine,
    states: tuple[str, ...],
    due_by: datetime | None = None,
    *,
    queueing: bool = False,
) -> list[tuple[int, str, str]]:
    """(id, uid, issue) of the mailings with deliveries in these states (due by `due_by`; a
    paused mailing has none due); with `queueing`, also those whose audience is being queued
    (more deliveries are coming: such a send is not done).

    One index probe per mailing and state (there are few), not a scan of every delivery: for
    each, the first delivery in ix_delivery_claim's order, which no plan finds sooner than the
    index. PostgreSQL turned an EXISTS into a join with a scan of every delivery of every
    mailing once its statistics said that many were queued (9 to 14 ms during a send of
    20,000, at every look of every idle worker), and a bare LIMIT 1 into a scan from the
    table's start, through every delivery already sent.
    """

    def first(state: str) -> Any:
        found = select(DELIVERY.c.id).where(
            DELIVERY.c.mailing_id == MAILING.c.id, DELIVERY.c.state == state
        )
        if due_by is not None:
            found = found.where(DELIVERY.c.not_before <= due_by)
        ordered = found.order_by(DELIVERY.c.not_before, DELIVERY.c.id).limit(1)
        return ordered.scalar_subquery().is_not(None)

    query = select(MAILING.c.id, MAILING.c.uid, MAILING.c.issue).order_by(MAILING.c.id)
    if due_by is not None:
        query = query.where(MAILING.c.paused_at.is_(None))
    queued = [MAILING.c.queueing_since.is_not(None)] if queueing else []
    query = query.where(or_(*(first(state) for state in states), *queued))
    with engine.connect() as connection:
        return [(id_, uid, issue) for id_, uid, issue in connection.execute(query)]


def mailings_page(engine: Engine, before_id: int | None, limit: int) -> list[Mailing]:
    """Up to `limit` mailings, newest first, older than the mailing `before_id` if given."""
    query = select(MAILING).order_by(MAILING.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(MAILING.c.id < before_id)
    with engine.connect() as connection:
        return [Mailing(**row._mapping) for row in connection.execute(query)]


def sent_issues(engine: Engine) -> dict[str, datetime]:
    """Each issue whose send started in this database, by slug, with the time it started
    ({} for a database that holds no outbox yet)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(MAILING.name):
            return {}
        rows = connection.execute(
            select(MAILING.c.issue, MAILING.c.created_at).where(
                ~MAILING.c.issue.startswith(STEP_MAILINGS)  # Sequence steps are not issues.
            )
        )
        return {row.issue: row.created_at for row in rows}


def failures(engine: Engine, mailing_id: int, limit: int = 50) -> list[tuple[str, str, int, str]]:
    """(address, locale, attempts, reply) of failed deliveries, oldest first."""
    query = (
        select(SUBSCRIBER.c.email, DELIVERY.c.locale, DELIVERY.c.attempts, DELIVERY.c.reply)
        .select_from(DELIVERY.outerjoin(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id))
        .where(DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == DeliveryState.FAILED)
        .order_by(DELIVERY.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            (email or "(forgotten)", locale, attempts, reply)
            for email, locale, attempts, reply in connection.execute(query)
        ]


def deliveries_of(engine: Engine, subscriber_id: int) -> list[dict[str, Any]]:
    """What was sent to one subscriber, for their personal-data export."""
    query = (
        select(
            MAILING.c.issue,
            DELIVERY.c.locale,
            DELIVERY.c.state,
            DELIVERY.c.attempts,
            DELIVERY.c.message_id,
            DELIVERY.c.sent_at,
        )
        .join(MAILING, MAILING.c.id == DELIVERY.c.mailing_id)
        .where(DELIVERY.c.subscriber_id == subscriber_id)
        .order_by(DELIVERY.c.id)
    )
    with engine.connect() as connection:
        return [
            {"issue": issue, "locale": locale, "state": state, "attempts": attempts,
             "message_id": message_id, "sent_at": sent_at.isoformat() if sent_at else None}
            for issue, locale, state, attempts, message_id, sent_at in connection.execute(query)
        ]  # fmt: skip
