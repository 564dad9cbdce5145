"""The outbox: a mailing's audience taken once, claimed in batches, and every outcome recorded.

    open_mailing      the mailing of an issue, with the editions it sends (made once)
    enqueue_audience  one delivery per active, unsuppressed subscriber; UNIQUE, so never twice
    claim             a batch of due deliveries, atomically, with a lease
    record            what became of each message: sent, retried later, failed, skipped
    requeue_abandoned claims of workers that died go back to the queue
    requeue_failed    failed deliveries are queued again (send --only-failed)

A worker holds a claim until it records an outcome. A worker killed in between leaves its
claims behind; they are requeued when the lease ends or, on the same host, as soon as its
process is gone. So a crash loses no recipient, and repeats at most the messages in flight.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as select_models

from newsletter.db import converter, lock_for_writing
from newsletter.deliver.models import Delivery, Mailing, MailingEdition
from newsletter.errors import NewsletterError
from newsletter.locales import match_locale
from newsletter.subscribers import registry
from newsletter.subscribers.addresses import address_hash
from newsletter.subscribers.models import Subscriber, SubscriberTag, Suppression, Tag

DELIVERY = SQLModel.metadata.tables[Delivery.__tablename__]
MAILING = SQLModel.metadata.tables[Mailing.__tablename__]
SUBSCRIBER = SQLModel.metadata.tables[Subscriber.__tablename__]
SUBSCRIBER_TAG = SQLModel.metadata.tables[SubscriberTag.__tablename__]
SUPPRESSION = SQLModel.metadata.tables[Suppression.__tablename__]
TAG = SQLModel.metadata.tables[Tag.__tablename__]
log = logging.getLogger(__name__)
MAX_RETRY_DELAY = 3600.0
ENQUEUE_BATCH = 5000


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds, with what it needs of the subscriber now."""

    id: int
    subscriber_id: int | None
    locale: str
    attempts: int


@dataclass(frozen=True)
class Result:
    """A claimed delivery's outcome, to record."""

    id: int
    attempts: int
    """Attempts before this one (as claimed)."""
    state: str  # sent, deferred, failed, skipped
    reply: str
    message_id: str = ""
    suppress: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """4xx replies are retried after delay, 2 x delay, 4 x delay... (at most an hour) until `attempts`."""

    delay: float
    attempts: int

    def after(self, attempts: int) -> float:
        return float(min(self.delay * 2 ** (attempts - 1), MAX_RETRY_DELAY))


def worker_name() -> str:
    """This process as a claim owner: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -- The mailing and its audience ------------------------------------------------------------


def find_mailing(engine: Engine, issue: str) -> Mailing | None:
    """The mailing of the issue with this slug, if it was ever sent."""
    with Session(engine) as session:
        return session.exec(select_models(Mailing).where(col(Mailing.issue) == issue)).first()


def open_mailing(engine: Engine, mailing: Mailing, editions: Sequence[MailingEdition]) -> Mailing:
    """The issue's mailing: the one made before (its content unchanged), else this one, stored."""
    with Session(engine) as session:
        query = select_models(Mailing).where(col(Mailing.issue) == mailing.issue)
        existing = session.exec(query).first()
        if existing is not None:
            return existing
        session.add(mailing)
        session.flush()
        for edition in editions:
            edition.mailing_id = mailing.id  # type: ignore[assignment]
            session.add(edition)
        session.commit()
        session.refresh(mailing)
        return mailing


def edition_locales(engine: Engine, mailing_id: int) -> list[str]:
    with Session(engine) as session:
        query = select_models(MailingEdition.locale).where(
            col(MailingEdition.mailing_id) == mailing_id
        )
        return list(session.exec(query).all())


def audience(
    connection: Connection, locales: Sequence[str], *, default_locale: str, tag: str | None
) -> Iterator[tuple[int, str]]:
    """(subscriber id, edition locale) of every active, unsuppressed subscriber.

    Each subscriber gets the edition in their locale, else the closest one, else the default.
    """
    chosen: dict[str, str] = {}

    def locale_for(wanted: str) -> str:
        if wanted not in chosen:
            try:
                found = match_locale(wanted, list(locales))
            except ValueError:
                found = ""
            chosen[wanted] = found if found in locales else default_locale
        return chosen[wanted]

    query = select(SUBSCRIBER.c.id, SUBSCRIBER.c.email_key, SUBSCRIBER.c.locale)
    query = query.where(SUBSCRIBER.c.status == "active").order_by(SUBSCRIBER.c.id)
    if tag:
        tagged = (
            select(SUBSCRIBER_TAG.c.subscriber_id)
            .join(TAG, TAG.c.id == SUBSCRIBER_TAG.c.tag_id)
            .where(TAG.c.name == tag)
        )
        query = query.where(SUBSCRIBER.c.id.in_(tagged))
    suppressed = set(connection.execute(select(SUPPRESSION.c.email_hash)).scalars())
    for id_, key, locale in connection.execute(query):
        if not (suppressed and address_hash(key) in suppressed):
            yield id_, locale_for(locale)


def enqueue_audience(
    engine: Engine, mailing: Mailing, *, default_locale: str, tag: str | None, now: datetime
) -> int:
    """Queue one delivery per subscriber of the audience not in the mailing yet; how many.

    Everything is added in one transaction; the UNIQUE (mailing, subscriber) constraint makes
    adding the same subscriber again a no-op, so a second send of an issue adds nobody twice.
    """
    assert mailing.id is not None
    locales = edition_locales(engine, mailing.id)
    added = 0
    if default_locale not in locales:
        default_locale = locales[0]  # The issue's editions changed since the mailing was made.
    with engine.begin() as connection:
        lock_for_writing(connection)
        rows: list[tuple[int, str]] = []
        for row in audience(connection, locales, default_locale=default_locale, tag=tag):
            rows.append(row)
            if len(rows) >= ENQUEUE_BATCH:
                added += _queue(connection, mailing.id, rows, now)
                rows = []
        added += _queue(connection, mailing.id, rows, now)
    return added


def _queue(
    connection: Connection, mailing_id: int, rows: list[tuple[int, str]], now: datetime
) -> int:
    """Insert queued deliveries for (subscriber id, locale) pairs, skipping those that exist.

    On SQLite the rows go to the driver's executemany (INSERT OR IGNORE), already converted;
    elsewhere INSERT ... ON CONFLICT DO NOTHING.
    """
    if not rows:
        return 0
    if connection.dialect.name == "sqlite":
        stamp = converter(DELIVERY.c.queued_at.type, connection.dialect)(now)
        return connection.exec_driver_sql(
            "INSERT OR IGNORE INTO delivery (mailing_id, subscriber_id, locale, state, attempts, "
            "not_before, claimed_by, reply, message_id, queued_at, updated_at) "
            "VALUES (?, ?, ?, 'queued', 0, ?, '', '', '', ?, ?)",
            [(mailing_id, id_, locale, stamp, stamp, stamp) for id_, locale in rows],
        ).rowcount
    values = [
        {"mailing_id": mailing_id, "subscriber_id": id_, "locale": locale, "state": "queued",
         "attempts": 0, "not_before": now, "claimed_by": "", "reply": "", "message_id": "",
         "queued_at": now, "updated_at": now}
        for id_, locale in rows
    ]  # fmt: skip
    statement = postgresql.insert(DELIVERY).on_conflict_do_nothing()
    return connection.execute(statement, values).rowcount


# -- Claims and outcomes ----------------------------------------------------------------------


def claim(
    engine: Engine, mailing_id: int, worker: str, *, limit: int, lease: float, now: datetime
) -> list[Claimed]:
    """Up to `limit` due deliveries, marked as this worker's until the lease ends.

    One UPDATE ... RETURNING: two workers never get the same delivery (on PostgreSQL the
    candidates are locked with SKIP LOCKED, so workers do not wait for each other).
    """
    candidates = (
        select(DELIVERY.c.id)
        .where(
            DELIVERY.c.mailing_id == mailing_id,
            DELIVERY.c.state == "queued",
            DELIVERY.c.not_before <= now,
        )
        .order_by(DELIVERY.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(DELIVERY)
        .where(DELIVERY.c.id.in_(candidates.scalar_subquery()))
        .values(
            state="sending",
            claimed_by=worker,
            lease_until=now + timedelta(seconds=lease),
            updated_at=now,
        )
        .returning(
            DELIVERY.c.id,
            DELIVERY.c.subscriber_id,
            DELIVERY.c.locale,
            DELIVERY.c.attempts,
        )
    )
    with engine.begin() as connection:
        rows = connection.execute(statement).all()
    return sorted((Claimed(*row) for row in rows), key=lambda claimed: claimed.id)


def record(
    engine: Engine,
    worker: str,
    results: Iterable[Result],
    policy: RetryPolicy,
    now: datetime,
    *,
    lease: float,
) -> None:
    """Record outcomes of this worker's claims in one transaction; hard bounces suppress.

    The worker's other claims get a new lease at the same time, so a slow send keeps them.
    A database busy for longer than its timeout is waited for (the messages have gone out:
    their outcomes must not be lost), up to the lease.
    """
    results = list(results)
    if not results:
        return
    rows, bounced = [], []
    for result in results:
        tries = result.attempts + (result.state != "skipped")
        state, not_before, reply = result.state, now, result.reply
        if state == "deferred":
            if tries >= policy.attempts:
                state, reply = "failed", f"gave up after {tries} attempts: {reply}"
            else:
                state, not_before = "queued", now + timedelta(seconds=policy.after(tries))
        rows.append(
            {"key": result.id, "owner": worker, "new_state": state, "new_attempts": tries,
             "new_not_before": not_before, "new_reply": reply[:1000],
             "new_message_id": result.message_id, "new_sent_at": now if state == "sent" else None,
             "now": now}
        )  # fmt: skip
        if result.suppress:
            bounced.append(result)
    deadline = time.monotonic() + lease
    while True:
        try:
            with engine.begin() as connection:
                lock_for_writing(connection)
                updated = _update_outcomes(connection, rows)
                if bounced:
                    _suppress_bounced(Session(bind=connection), bounced, now)
                _renew(connection, worker, now + timedelta(seconds=lease))
            break
        except (OperationalError, NewsletterError) as error:
            if time.monotonic() > deadline:
                raise
            log.warning("recording %d outcomes: %s; trying again", len(rows), error)
            time.sleep(1.0)
    if updated < len(rows):
        # The lease ended and another worker took these deliveries over: they may go out twice.
        log.warning("%d outcomes not recorded: their claims had expired", len(rows) - updated)


def _renew(connection: Connection, worker: str, until: datetime) -> None:
    connection.execute(
        update(DELIVERY)
        .where(DELIVERY.c.claimed_by == worker, DELIVERY.c.state == "sending")
        .values(lease_until=until)
    )


def _update_outcomes(connection: Connection, rows: list[dict[str, Any]]) -> int:
    """One UPDATE per outcome, only where this worker still holds the claim; how many matched.

    On SQLite the rows go to the driver's executemany, already converted: SQLAlchemy's
    handling of each row's parameters costs more than the update itself.
    """
    if connection.dialect.name == "sqlite":
        stamp = converter(DELIVERY.c.updated_at.type, connection.dialect)
        return connection.exec_driver_sql(
            "UPDATE delivery SET state = ?, attempts = ?, not_before = ?, reply = ?, "
            "message_id = ?, sent_at = ?, claimed_by = '', lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND claimed_by = ? AND state = 'sending'",
            [
                (row["new_state"], row["new_attempts"], stamp(row["new_not_before"]),
                 row["new_reply"], row["new_message_id"], stamp(row["new_sent_at"]),
                 stamp(row["now"]), row["key"], row["owner"])
                for row in rows
            ],
        ).rowcount  # fmt: skip
    statement = (
        update(DELIVERY)
        .where(
            and_(
                DELIVERY.c.id == bindparam("key"),
                DELIVERY.c.claimed_by == bindparam("owner"),
                DELIVERY.c.state == "sending",
            )
        )
        .values(
            state=bindparam("new_state"),
            attempts=bindparam("new_attempts"),
            not_before=bindparam("new_not_before"),
            reply=bindparam("new_reply"),
            message_id=bindparam("new_message_id"),
            sent_at=bindparam("new_sent_at"),
            claimed_by="",
            lease_until=None,
            updated_at=bindparam("now"),
        )
    )
    return connection.execute(statement, rows).rowcount


def _suppress_bounced(session: Session, bounced: list[Result], now: datetime) -> None:
    """A 5.1.x reply: the address does not exist; the subscriber is marked bounced, for good."""
    ids = [result.id for result in bounced]
    query = select(DELIVERY.c.id, DELIVERY.c.subscriber_id).where(DELIVERY.c.id.in_(ids))
    replies = {result.id: result.reply for result in bounced}
    for delivery_id, subscriber_id in session.connection().execute(query):
        subscriber = session.get(Subscriber, subscriber_id) if subscriber_id else None
        if subscriber is not None:
            registry.unsubscribe(
                session, subscriber, method="bounce", source=replies[delivery_id], now=now,
                reason="bounced",
            )  # fmt: skip
    session.flush()


def release(engine: Engine, worker: str, ids: Iterable[int], now: datetime) -> None:
    """Give claims back untouched (no attempt counted): the worker stops before sending them."""
    ids = list(ids)
    if not ids:
        return
    with engine.begin() as connection:
        connection.execute(
            update(DELIVERY)
            .where(
                DELIVERY.c.id.in_(ids),
                DELIVERY.c.claimed_by == worker,
                DELIVERY.c.state == "sending",
            )
            .values(state="queued", claimed_by="", lease_until=None, updated_at=now)
        )


def requeue_abandoned(
    engine: Engine, mailing_id: int, now: datetime, alive: Callable[[str], bool] | None = None
) -> int:
    """Queue again the claims whose lease ended, or whose worker process is gone."""
    alive = alive or worker_alive
    with engine.begin() as connection:
        held = connection.execute(
            select(DELIVERY.c.claimed_by, DELIVERY.c.lease_until)
            .where(DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == "sending")
            .distinct()
        ).all()
        dead = {
            worker
            for worker, lease in held
            if (lease is not None and lease < now) or not alive(worker)
        }
        if not dead:
            return 0
        result = connection.execute(
            update(DELIVERY)
            .where(
                DELIVERY.c.mailing_id == mailing_id,
                DELIVERY.c.state == "sending",
                DELIVERY.c.claimed_by.in_(dead),
            )
            .values(state="queued", claimed_by="", lease_until=None, updated_at=now)
        )
        return result.rowcount


def worker_alive(worker: str) -> bool:
    """Whether a claim owner (host:pid) still runs; owners on other hosts count as alive."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue_failed(engine: Engine, mailing_id: int, now: datetime) -> int:
    """Queue failed deliveries again with fresh attempts, except to addresses suppressed since."""
    with engine.begin() as connection:
        suppressed = set(connection.execute(select(SUPPRESSION.c.email_hash)).scalars())
        failed = connection.execute(
            select(DELIVERY.c.id, SUBSCRIBER.c.email_key)
            .join(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id)
            .where(DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == "failed")
        ).all()
        ids = [id_ for id_, key in failed if address_hash(key) not in suppressed]
        for start in range(0, len(ids), ENQUEUE_BATCH):
            connection.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id.in_(ids[start : start + ENQUEUE_BATCH]))
                .values(state="queued", attempts=0, not_before=now, updated_at=now)
            )
        return len(ids)


# -- What a mailing looks like now ------------------------------------------------------------


def counts(engine: Engine, mailing_id: int) -> dict[tuple[str, str], int]:
    """Deliveries per (locale, state)."""
    query = (
        select(DELIVERY.c.locale, DELIVERY.c.state, func.count())
        .where(DELIVERY.c.mailing_id == mailing_id)
        .group_by(DELIVERY.c.locale, DELIVERY.c.state)
    )
    with engine.connect() as connection:
        return {(locale, state): count for locale, state, count in connection.execute(query)}


def progress(engine: Engine, mailing_id: int) -> tuple[int, int]:
    """(deliveries final, all deliveries): two index counts, cheap enough to poll."""
    mine = DELIVERY.c.mailing_id == mailing_id
    done = select(func.count()).where(mine, DELIVERY.c.state.in_(("sent", "failed", "skipped")))
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).where(mine)).scalar_one()
        return connection.execute(done).scalar_one(), total


def pending(engine: Engine, mailing_id: int) -> tuple[int, datetime | None]:
    """How many deliveries are not final yet, and when the earliest queued one is due."""
    unfinished = DELIVERY.c.state.in_(("queued", "sending"))
    count = select(func.count()).where(DELIVERY.c.mailing_id == mailing_id, unfinished)
    due = select(func.min(DELIVERY.c.not_before)).where(
        DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == "queued"
    )
    with engine.connect() as connection:
        return connection.execute(count).scalar_one(), connection.execute(due).scalar()


def failures(engine: Engine, mailing_id: int, limit: int = 50) -> list[tuple[str, str, int, str]]:
    """(address, locale, attempts, reply) of failed deliveries, oldest first."""
    query = (
        select(SUBSCRIBER.c.email, DELIVERY.c.locale, DELIVERY.c.attempts, DELIVERY.c.reply)
        .select_from(DELIVERY.outerjoin(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id))
        .where(DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == "failed")
        .order_by(DELIVERY.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            (email or "(forgotten)", locale, attempts, reply)
            for email, locale, attempts, reply in connection.execute(query)
        ]


class Person(NamedTuple):
    """A subscriber as a message to them is made: read when it is sent, not when it was queued."""

    email: str
    name: str
    status: str
    key: str


def subscribers_now(engine: Engine, ids: Iterable[int]) -> dict[int, Person]:
    """These subscribers as they are now, by id (a deleted one is missing)."""
    columns = (SUBSCRIBER.c.email, SUBSCRIBER.c.name, SUBSCRIBER.c.status, SUBSCRIBER.c.email_key)
    query = select(SUBSCRIBER.c.id, *columns).where(SUBSCRIBER.c.id.in_(list(ids)))
    with engine.connect() as connection:
        return {id_: Person(*rest) for id_, *rest in connection.execute(query)}


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
