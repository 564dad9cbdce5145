"""The outbox: deliveries claimed in batches, and every outcome recorded.

    claim             a batch of due deliveries, atomically, with a lease
    record            what became of each message: sent, retried later, failed, skipped
    release           claims given back unsent
    requeue_abandoned claims of workers that died go back to the queue

The audience is queued by audience.py; report.py counts what happened.

A worker holds a claim until it records an outcome. A worker killed in between leaves its
claims behind; they are requeued when the lease ends or, on the same host, as soon as its
process is gone. So a crash loses no recipient, and repeats at most the messages in flight:
those sent since the worker's last record. Each worker also journals every outcome on the
local disk as it comes (journal.py), and `send --resume` and `run` record the journals of
this host's dead workers before requeueing their claims (journal.recover_abandoned): what a
kill -9 repeats is then the message each connection had sent without reading its reply.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Update, select, update
from sqlmodel import Session

from newsletter.characters import visible
from newsletter.db import among, converter, lock_for_writing, one_statement, patiently
from newsletter.deliver.models import DELIVERY, MAILING, DeliveryState
from newsletter.deliver.smtp import DEFERRED
from newsletter.deliver.wakeup import announce
from newsletter.subscribers import registry
from newsletter.subscribers.models import SUBSCRIBER, Subscriber

log = logging.getLogger(__name__)
MAX_RETRY_DELAY = 3600.0


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
    state: str
    """A final DeliveryState (sent, failed, skipped), or DEFERRED: try again later."""
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


# -- Claims and outcomes ----------------------------------------------------------------------


def claim(
    engine: Engine, mailing_id: int, worker: str, *, limit: int, lease: float, now: datetime
) -> list[Claimed]:
    """Up to `limit` due deliveries, marked as this worker's until the lease ends.

    One UPDATE ... RETURNING: two workers never get the same delivery (on PostgreSQL the
    candidates are locked with SKIP LOCKED, so workers do not wait for each other). The
    earliest due first, then by id, as ix_delivery_claim holds them: the claim reads only the
    rows it takes, however many were sent before. Nothing while the mailing is paused.
    """
    until = now + timedelta(seconds=lease)
    with one_statement(engine) as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.execute(_claim_statement(mailing_id, worker, limit, now, until))
        else:  # PostgreSQL (the other database the project runs on).
            parameters = {"mailing": mailing_id, "worker": worker, "limit": limit}
            rows = connection.exec_driver_sql(
                _CLAIM_ON_POSTGRESQL, {**parameters, "now": now, "until": until}
            )
        # .all(): the driver makes every row in one call, not one call a row.
        claimed = [Claimed(*row) for row in rows.all()]
    return sorted(claimed, key=lambda one: one.id)


def _claim_statement(
    mailing_id: int, worker: str, limit: int, now: datetime, until: datetime
) -> Update:
    """The claim on SQLite, where one writer at a time makes the choice of candidates safe."""
    unpaused = select(MAILING.c.id).where(MAILING.c.id == mailing_id, MAILING.c.paused_at.is_(None))
    candidates = (
        select(DELIVERY.c.id)
        .where(
            DELIVERY.c.mailing_id == mailing_id,
            unpaused.exists(),  # A paused send: nothing to claim (a constant, checked once).
            DELIVERY.c.state == DeliveryState.QUEUED,
            DELIVERY.c.not_before <= now,
        )
        .order_by(DELIVERY.c.not_before, DELIVERY.c.id)  # ix_delivery_claim's order.
        .limit(limit)
    )
    return (
        update(DELIVERY)
        .where(DELIVERY.c.id.in_(candidates.scalar_subquery()))
        .values(state=DeliveryState.SENDING, claimed_by=worker, lease_until=until, updated_at=now)
        .returning(DELIVERY.c.id, DELIVERY.c.subscriber_id, DELIVERY.c.locale, DELIVERY.c.attempts)
    )


_CLAIM_ON_POSTGRESQL = """
UPDATE delivery SET state = 'sending', claimed_by = %(worker)s, lease_until = %(until)s,
  updated_at = %(now)s
WHERE id = ANY(ARRAY(
  SELECT id FROM delivery
  WHERE mailing_id = %(mailing)s AND state = 'queued' AND not_before <= %(now)s
    AND EXISTS (SELECT FROM mailing WHERE id = %(mailing)s AND paused_at IS NULL)
  ORDER BY not_before, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
RETURNING id, subscriber_id, locale, attempts
"""
"""The claim on PostgreSQL: the candidates as an array, so the rows to update are found by
their key. With `id IN (candidates)` the planner joined them to a scan of every delivery of
every mailing: 3 of a claim's 8 ms at 20,000 deliveries, and growing with the table."""


def record(
    engine: Engine,
    mailing_id: int,
    worker: str,
    results: Iterable[Result],
    policy: RetryPolicy,
    now: datetime,
    *,
    lease: float,
    renew: bool = True,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Record outcomes of this worker's claims in one transaction; hard bounces suppress.

    With `renew`, the worker's other claims get a new lease at the same time, so a slow send
    keeps them (the worker asks for it once a third of the lease has gone: each renewal
    rewrites every claimed row). A database busy for longer than its timeout is waited for
    (the messages have gone out: their outcomes must not be lost), up to the lease.
    """
    results = list(results)
    if not results:
        return
    rows: list[_Outcome] = []
    bounced: set[int] = set()
    for result in results:
        tries = result.attempts + (result.state != DeliveryState.SKIPPED)
        # The reply is shown by `status` and the dashboard, on one line; PostgreSQL refuses
        # NUL in text. (An error's text may hold line breaks: they become spaces.)
        state, not_before, reply = result.state, now, visible(" ".join(result.reply.split()))
        if state == DEFERRED:
            if tries >= policy.attempts:
                state, reply = DeliveryState.FAILED, f"gave up after {tries} attempts: {reply}"
            else:
                state = DeliveryState.QUEUED
                not_before = now + timedelta(seconds=policy.after(tries))
        sent_at = now if state == DeliveryState.SENT else None
        rows.append(
            _Outcome(result.id, state, tries, not_before, reply[:1000], result.message_id, sent_at)
        )
        if result.suppress:
            bounced.add(result.id)

    def write() -> int:
        # Most records are the one UPDATE of the outcomes; a bounce or a renewal makes more.
        alone = not bounced and not renew
        with one_statement(engine) if alone else engine.begin() as connection:
            lock_for_writing(connection)
            # A hard bounce suppresses only where its outcome is recorded now: not for a claim
            # another worker holds, nor twice (a journal replayed again). The few bounces are
            # updated one by one, to know which.
            hard = [
                row
                for row in rows
                if row.id in bounced and _update_outcomes(connection, [row], worker, now)
            ]
            rest = [row for row in rows if row.id not in bounced]
            updated = len(hard) + (_update_outcomes(connection, rest, worker, now) if rest else 0)
            if hard:
                _suppress_bounced(Session(bind=connection), hard, now)
            if renew:
                _renew(connection, mailing_id, worker, now + timedelta(seconds=lease))
        return updated

    what = f"recording {len(rows)} outcomes"
    updated = patiently(write, patience=lease, pause=1.0, what=what, stop=stop)
    if updated < len(rows):
        # The lease ended and another worker took these deliveries over: they may go out twice.
        log.warning("%d outcomes not recorded: their claims had expired", len(rows) - updated)


def _renew(connection: Connection, mailing_id: int, worker: str, until: datetime) -> None:
    # mailing_id and state first: the claim index finds the few claimed rows.
    connection.execute(
        update(DELIVERY)
        .where(
            DELIVERY.c.mailing_id == mailing_id,
            DELIVERY.c.state == DeliveryState.SENDING,
            DELIVERY.c.claimed_by == worker,
        )
        .values(lease_until=until)
    )


class _Outcome(NamedTuple):
    """A delivery's row as a record leaves it (the columns _update_outcomes sets)."""

    id: int
    state: str
    attempts: int
    not_before: datetime
    reply: str
    message_id: str
    sent_at: datetime | None


_OUTCOMES_ON_POSTGRESQL = """
WITH v AS (
  SELECT * FROM json_to_recordset(%(outcomes)s::json) AS o(id integer, state text,
    attempts integer, not_before timestamptz, reply text, message_id text, sent_at timestamptz)
)
UPDATE delivery SET state = v.state, attempts = v.attempts, not_before = v.not_before,
  reply = v.reply, message_id = v.message_id, sent_at = v.sent_at, claimed_by = '',
  lease_until = NULL, updated_at = %(now)s
FROM v
WHERE delivery.id = ANY(ARRAY(SELECT id FROM v)) AND delivery.id = v.id
  AND delivery.claimed_by = %(owner)s AND delivery.state = 'sending'
"""
"""The outcomes on PostgreSQL. Their ids, as an array, make the rows to update be found by key:
with the join alone, the planner scanned every delivery of every mailing when its statistics
(taken before the send) said that few were being sent."""


def _update_outcomes(
    connection: Connection, rows: list[_Outcome], owner: str, now: datetime
) -> int:
    """The outcomes, where `owner` still holds the claim, at `now`; how many matched.

    On SQLite, one UPDATE per outcome through the driver's executemany, already converted:
    SQLAlchemy's handling of each row's parameters costs more than the update itself. On
    PostgreSQL, one UPDATE for all of them, joined to the outcomes passed as one JSON text:
    one round trip and one statement to plan, where an UPDATE per row took a third of a
    worker's time. Either way each moment is converted once: most rows share the same (now).
    """
    if connection.dialect.name == "sqlite":
        stamp = _once_each(converter(DELIVERY.c.updated_at.type, connection.dialect))
        return connection.exec_driver_sql(
            "UPDATE delivery SET state = ?, attempts = ?, not_before = ?, reply = ?, "
            "message_id = ?, sent_at = ?, claimed_by = '', lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND claimed_by = ? AND state = 'sending'",
            [
                (row.state, row.attempts, stamp(row.not_before), row.reply, row.message_id,
                 stamp(row.sent_at), stamp(now), row.id, owner)
                for row in rows
            ],
        ).rowcount  # fmt: skip
    # PostgreSQL (the other database the project runs on): the outcomes as one JSON text,
    # which json.dumps writes in C, where psycopg adapted arrays element by element in Python;
    # the moments as ISO 8601 text already (json.dumps called back for each took half its time).
    stamp = _once_each(datetime.isoformat)
    outcomes = json.dumps(
        [
            {**row._asdict(), "not_before": stamp(row.not_before), "sent_at": stamp(row.sent_at)}
            for row in rows
        ]
    )
    updated: int = connection.exec_driver_sql(
        _OUTCOMES_ON_POSTGRESQL, {"outcomes": outcomes, "owner": owner, "now": now}
    ).rowcount
    return updated


def _once_each(convert: Callable[[datetime], Any]) -> Callable[[datetime | None], Any]:
    """`convert`, called once for each moment however often it is asked for (None stays None)."""
    done: dict[datetime, Any] = {}

    def converted(moment: datetime | None) -> Any:
        if moment is None:
            return None
        if moment not in done:
            done[moment] = convert(moment)
        return done[moment]

    return converted


def _suppress_bounced(session: Session, bounced: list[_Outcome], now: datetime) -> None:
    """A 5.1.x reply: the address does not exist; the subscriber is marked bounced, for good
    (with the reply as stored as the reason's source)."""
    ids = [row.id for row in bounced]
    query = select(DELIVERY.c.id, DELIVERY.c.subscriber_id).where(DELIVERY.c.id.in_(ids))
    replies = {row.id: row.reply for row in bounced}
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
                DELIVERY.c.state == DeliveryState.SENDING,
            )
            .values(state=DeliveryState.QUEUED, claimed_by="", lease_until=None, updated_at=now)
        )
        announce(connection)  # Idle workers elsewhere take them at once.


def requeue_abandoned(
    engine: Engine, mailing_id: int, now: datetime, alive: Callable[[str], bool] | None = None
) -> int:
    """Queue again the claims whose lease ended, or whose worker process is gone."""
    alive = alive or worker_alive
    with engine.begin() as connection:
        held = connection.execute(
            select(DELIVERY.c.claimed_by, DELIVERY.c.lease_until)
            .where(DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == DeliveryState.SENDING)
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
                DELIVERY.c.state == DeliveryState.SENDING,
                DELIVERY.c.claimed_by.in_(dead),
            )
            .values(state=DeliveryState.QUEUED, claimed_by="", lease_until=None, updated_at=now)
        )
        if result.rowcount:
            announce(connection)
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


class Person(NamedTuple):
    """A subscriber as a message to them is made: read when it is sent, not when it was queued."""

    email: str
    name: str
    status: str
    key: str
    attributes: Mapping[str, Any] = MappingProxyType({})
    """Read only when asked for (a mailing with subscriber fields)."""


def subscribers_now(
    engine: Engine, ids: Iterable[int], attributes: bool = False
) -> dict[int, Person]:
    """These subscribers as they are now, by id (a deleted one is missing); with `attributes`,
    their attributes too (a plain send reads and decodes no JSON)."""
    columns = [SUBSCRIBER.c.email, SUBSCRIBER.c.name, SUBSCRIBER.c.status, SUBSCRIBER.c.email_key]
    if attributes:
        columns.append(SUBSCRIBER.c.attributes)
    query = select(SUBSCRIBER.c.id, *columns).where(among(SUBSCRIBER.c.id, ids, engine.dialect))
    with one_statement(engine) as connection:
        return {id_: Person(*rest) for id_, *rest in connection.execute(query).all()}
