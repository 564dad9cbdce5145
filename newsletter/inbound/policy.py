"""What a matched notice does to its subscriber.

    hard          bounced and suppressed at once
    soft          counted; `soft_bounce_limit` of them (one per delivery) within
                  `soft_bounce_days` make the subscriber bounced and suppressed
    complaint     unsubscribed and suppressed at once (status complained): consent withdrawn
    unsubscribe   unsubscribed (a mailto request, RFC 8058's mailto path)
    policy, delay, autoreply, delivered, unknown: stored, change nothing

Only notices tied to one of our deliveries (or a valid unsubscribe token) reach this module.
A batch of messages (one transaction) is decided in memory, notice after notice, then written
with a few bulk statements (`PolicyBatch`); a single message is a batch of one. What a change
writes is what the registry's `unsubscribe` writes (subscribers/registry.py, the reference):
the status, unsubscribed_at and updated_at, one consent event, the address suppressed unless
it is already (under any spelling); tests/test_inbound_batch.py compares the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update

from newsletter.db import converter, insert_many
from newsletter.inbound.models import INBOUND_EVENT
from newsletter.inbound.notices import Kind
from newsletter.subscribers.addresses import address_hash, address_hashes
from newsletter.subscribers.bulk import chunks
from newsletter.subscribers.models import CONSENT_EVENT, SUBSCRIBER, SUPPRESSION

DONE = ("unsubscribed", "bounced", "complained")
"""Statuses that mail never goes to again: a later notice finds nothing left to do."""
ACTING = frozenset({Kind.HARD, Kind.SOFT, Kind.COMPLAINT, Kind.UNSUBSCRIBE})
"""The kinds that may change a subscriber."""
_CONSENT_EVENT = ("subscriber_id", "kind", "at", "method", "source", "details")
_SUPPRESSION = ("email_hash", "reason", "at")
_SET_STATUS = (
    update(SUBSCRIBER)
    .where(SUBSCRIBER.c.id == bindparam("subscriber"))
    .values(status=bindparam("new_status"), unsubscribed_at=bindparam("at"), updated_at=bindparam("at"))
)  # fmt: skip


@dataclass(frozen=True)
class BouncePolicy:
    """How many soft bounces, within how long, suppress an address."""

    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=30)


@dataclass
class _Subscriber:
    status: str
    email_key: str
    failures: set[tuple[str, int]] = field(default_factory=set)
    """Soft bounces within the window, one per delivery (or per event without one)."""


class PolicyBatch:
    """The policy over one transaction's notices: `load` the subscribers they name (locked),
    `apply` to each notice in order, then `write` the changes."""

    def __init__(self, connection: Connection, policy: BouncePolicy, now: datetime) -> None:
        self.connection, self.policy, self.now = connection, policy, now
        self._subscribers: dict[int, _Subscriber] = {}
        self._changes: list[tuple[int, str, str, str]] = []  # id, status, method, why
        self._unnumbered = 0

    def load(self, notices: Iterable[tuple[Kind, int | None]]) -> None:
        """Read (and on PostgreSQL lock) the subscribers of these (kind, subscriber id), and
        the soft bounces within the window of those with a soft one."""
        named = [(kind, subscriber) for kind, subscriber in notices if subscriber is not None]
        wanted = {subscriber for kind, subscriber in named if kind in ACTING}
        soft = {subscriber for kind, subscriber in named if kind is Kind.SOFT}
        wanted -= self._subscribers.keys()
        # Locked in id order: two processors at once wait for each other, never deadlock; a
        # soft bounce count read after the lock sees the other's committed events.
        for part in chunks(sorted(wanted)):
            rows = self.connection.execute(
                select(SUBSCRIBER.c.id, SUBSCRIBER.c.status, SUBSCRIBER.c.email_key)
                .where(SUBSCRIBER.c.id.in_(part))
                .order_by(SUBSCRIBER.c.id)
                .with_for_update()
            )
            for id_, status, email_key in rows:
                self._subscribers[id_] = _Subscriber(status, email_key)
        since = self.now - self.policy.soft_bounce_window
        for part in chunks(sorted(soft & wanted)):
            earlier = self.connection.execute(
                select(INBOUND_EVENT.c.subscriber_id, INBOUND_EVENT.c.delivery_id, INBOUND_EVENT.c.id)
                .where(INBOUND_EVENT.c.subscriber_id.in_(part), INBOUND_EVENT.c.kind == Kind.SOFT.value, INBOUND_EVENT.c.at >= since)
            )  # fmt: skip
            for subscriber, delivery, event in earlier:
                if subscriber in self._subscribers:
                    self._subscribers[subscriber].failures.add(_failure(delivery, event))

    def apply(
        self, kind: Kind, subscriber_id: int | None, delivery_id: int | None, *, why: str
    ) -> str:
        """Apply the policy for one matched notice (its subscriber loaded); what it did:
        suppressed, complained, unsubscribed, counted, already (nothing left to do) or none."""
        if subscriber_id is None or kind not in ACTING:
            return "none"
        subscriber = self._subscribers.get(subscriber_id)
        if subscriber is None:
            return "none"
        if kind is Kind.SOFT:
            # This notice's event counts for the notices after it, whatever it does now.
            self._unnumbered += 1
            failure = _failure(delivery_id, -self._unnumbered)
            count = len(subscriber.failures | {failure})
            subscriber.failures.add(failure)
        if subscriber.status in DONE:
            return "already"  # Unsubscribed and suppressed before.
        if kind is Kind.SOFT:
            if count < self.policy.soft_bounce_limit:
                return "counted"
            why = f"{count} soft bounces within {self.policy.soft_bounce_window.days} days; last: {why}"
        if kind in (Kind.HARD, Kind.SOFT):
            status, method, done = "bounced", "bounce", "suppressed"
        elif kind is Kind.COMPLAINT:
            status, method, done = "complained", "complaint", "complained"
        else:
            status, method, done = "unsubscribed", "email", "unsubscribed"
        subscriber.status = status
        self._changes.append((subscriber_id, status, method, why))
        return done

    def write(self) -> None:
        """The changes decided, written: statuses, consent events, suppressions."""
        if not self._changes:
            return
        connection, now = self.connection, self.now
        connection.execute(
            _SET_STATUS,
            [{"subscriber": id_, "new_status": status, "at": now} for id_, status, _, _ in self._changes],
        )  # fmt: skip
        stamp = converter(CONSENT_EVENT.c.at.type, connection.dialect)(now)
        no_details = converter(CONSENT_EVENT.c.details.type, connection.dialect)({})
        events = [
            (id_, status, stamp, method, why[:500], no_details)
            for id_, status, method, why in self._changes
        ]
        insert_many(connection, CONSENT_EVENT, _CONSENT_EVENT, events)
        self._suppress(
            [(self._subscribers[id_].email_key, status) for id_, status, _, _ in self._changes],
            stamp,
        )
        self._changes = []

    def _suppress(self, keys: list[tuple[str, str]], stamp: object) -> None:
        """Put the addresses on the suppression list, but those on it already under any
        spelling (the first reason an address got there for is kept)."""
        spellings = {key: address_hashes(key) for key, _ in keys}
        known: set[str] = set()
        every = sorted({digest for digests in spellings.values() for digest in digests})
        for part in chunks(every):
            found = self.connection.execute(
                select(SUPPRESSION.c.email_hash).where(SUPPRESSION.c.email_hash.in_(part))
            )
            known.update(found.scalars())
        rows = []
        for key, reason in keys:
            if known.isdisjoint(spellings[key]):
                known.add(address_hash(key))
                rows.append((address_hash(key), reason, stamp))
        # Skipping what exists: another processor may have suppressed one meanwhile.
        insert_many(self.connection, SUPPRESSION, _SUPPRESSION, rows, skip_existing=True)


def _failure(delivery_id: int | None, event_id: int) -> tuple[str, int]:
    """What counts as one soft bounce: its delivery, else the event itself."""
    return ("delivery", delivery_id) if delivery_id is not None else ("event", event_id)
