"""What came back after a send, in numbers: per locale, and each event for a human to read.

    outcomes            per locale: delivered, hard/soft/policy bounces, complaints and
                        unsubscribes, with the rates mailbox providers judge a sender by
    came_back           per send, for many sends at once: the deliveries that bounced and
                        those complained about (the dashboard's last sends)
    events              the inbound events, newest first (of one send, since a time)
    subscriber_events   what came back about one subscriber (`subscribers show`, GDPR export)

Bounces and complaints count deliveries (a delivery that bounced twice counts once, under its
gravest kind: hard, then policy, then soft). Sent is
what the receiving server (or the relay) accepted; delivered is sent less what bounced after.
Bounce rates are shares of the sent messages, complaint and unsubscribe rates of the delivered
ones, as mailbox providers reckon them. An unsubscribe counts for the send the reader got last
before leaving, by any way out: the one-click link, the preferences page, a mailto message or
a complaint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, exists, func, select
from sqlalchemy.orm import aliased

from newsletter.deliver.models import DELIVERY, MAILING, DeliveryState
from newsletter.deliver.report import counts as delivery_counts
from newsletter.inbound.models import INBOUND_EVENT, INBOUND_MESSAGE
from newsletter.subscribers.models import CONSENT_EVENT, SUBSCRIBER

COMPLAINT_LIMIT = 0.003
"""Gmail's and Yahoo's bulk-sender rules: a complaint rate at or over 0.3% gets mail refused."""
COMPLAINT_TARGET = 0.001
"""The rate they ask senders to stay under (0.1%)."""
BOUNCE_KINDS = ("hard", "soft", "policy")


@dataclass
class Outcomes:
    """What became of one send's messages in one locale (or all)."""

    sent: int = 0
    """Messages the receiving server or relay accepted (deliveries in state `sent`)."""
    bounced: int = 0
    """Sent messages that bounced after (hard, soft or policy; each delivery once)."""
    hard: int = 0
    soft: int = 0
    policy: int = 0
    complained: int = 0
    unsubscribed: int = 0

    @property
    def delivered(self) -> int:
        """Sent messages that did not bounce."""
        return self.sent - self.bounced

    def of_sent(self, count: int) -> float:
        """`count` as a share of the sent messages (0.0 when none was sent): a bounce rate."""
        return count / self.sent if self.sent else 0.0

    def of_delivered(self, count: int) -> float:
        """`count` as a share of the delivered messages (0.0 when none was delivered)."""
        return count / self.delivered if self.delivered else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.of_delivered(self.complained)

    def add(self, other: Outcomes) -> None:
        """Add `other`'s counts to these."""
        for name in ("sent", "bounced", "hard", "soft", "policy", "complained", "unsubscribed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def complaint_verdict(rate: float) -> str:
    """How a complaint rate stands against the providers' limit and target, in words."""
    if rate >= COMPLAINT_LIMIT:
        return f"over the {COMPLAINT_LIMIT:.1%} limit: mailbox providers refuse such mail"
    if rate >= COMPLAINT_TARGET:
        return f"under the {COMPLAINT_LIMIT:.1%} limit, over the {COMPLAINT_TARGET:.1%} target"
    return f"under the {COMPLAINT_TARGET:.1%} target"


def outcomes(
    engine: Engine, mailing_id: int, sent: Mapping[str, int] | None = None
) -> dict[str, Outcomes]:
    """The send's outcomes by locale (locales with no delivery are left out); `sent`, the sent
    deliveries per locale when the caller has counted them already (else report.counts: from
    PostgreSQL's tally, or a count over every delivery of the send on SQLite)."""
    if sent is None:
        by_cell = delivery_counts(engine, mailing_id)
        sent = {locale: n for (locale, state), n in by_cell.items() if state == DeliveryState.SENT}
    found: dict[str, Outcomes] = {}
    with engine.connect() as connection:
        for locale, count in sent.items():
            if count:
                found.setdefault(locale, Outcomes()).sent = count
        complaints = connection.execute(
            select(INBOUND_EVENT.c.locale, func.count(INBOUND_EVENT.c.delivery_id.distinct()))
            .where(
                INBOUND_EVENT.c.mailing_id == mailing_id,
                INBOUND_EVENT.c.kind == "complaint",
                INBOUND_EVENT.c.delivery_id.is_not(None),
            )
            .group_by(INBOUND_EVENT.c.locale)
        )
        for locale, count in complaints:
            found.setdefault(locale, Outcomes()).complained = count
        for locale, kind, count in connection.execute(_bounced(mailing_id)):
            counts = found.setdefault(locale, Outcomes())
            setattr(counts, kind, count)
            counts.bounced += count
        if (since := first_due(connection, mailing_id)) is not None:
            for locale, count in connection.execute(_unsubscribed(mailing_id, since)):
                found.setdefault(locale, Outcomes()).unsubscribed = count
    return found


def came_back(engine: Engine, mailing_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(bounced, complained) deliveries of each of these sends, counted as `outcomes` counts
    them (each delivery once), in one query over the events' mailing index for them all."""
    bounce = INBOUND_EVENT.c.kind.in_(BOUNCE_KINDS)
    delivery = INBOUND_EVENT.c.delivery_id
    query = (
        select(
            INBOUND_EVENT.c.mailing_id,
            func.count(case((bounce, delivery)).distinct()),
            func.count(case((INBOUND_EVENT.c.kind == "complaint", delivery)).distinct()),
        )
        .where(
            INBOUND_EVENT.c.mailing_id.in_(list(mailing_ids)),
            INBOUND_EVENT.c.kind.in_((*BOUNCE_KINDS, "complaint")),
            delivery.is_not(None),
        )
        .group_by(INBOUND_EVENT.c.mailing_id)
    )
    found = dict.fromkeys(mailing_ids, (0, 0))
    with engine.connect() as connection:
        for mailing_id, bounced, complained in connection.execute(query):
            found[mailing_id] = (bounced, complained)
    return found


def _bounced(mailing_id: int) -> Any:
    """(locale, kind, deliveries) of the send's bounces, each delivery under its gravest kind
    (hard, then policy, then soft: a mailbox full, then gone, is gone), so the kinds add up.
    Read from the events alone, which carry their delivery's locale."""
    gravity = case(
        (INBOUND_EVENT.c.kind == "hard", 3), (INBOUND_EVENT.c.kind == "policy", 2), else_=1
    )
    per_delivery = (
        select(INBOUND_EVENT.c.locale, func.max(gravity).label("gravity"))
        .where(
            INBOUND_EVENT.c.mailing_id == mailing_id,
            INBOUND_EVENT.c.kind.in_(BOUNCE_KINDS),
            INBOUND_EVENT.c.delivery_id.is_not(None),
        )
        .group_by(INBOUND_EVENT.c.delivery_id, INBOUND_EVENT.c.locale)
        .subquery()
    )
    kind = case(
        (per_delivery.c.gravity == 3, "hard"), (per_delivery.c.gravity == 2, "policy"), else_="soft"
    )
    return select(per_delivery.c.locale, kind, func.count()).group_by(per_delivery.c.locale, kind)


def first_due(connection: Connection, mailing_id: int) -> datetime | None:
    """The earliest due time of the send's sent deliveries (the first entry of the claim index
    among them); None before any went out."""
    earliest = select(func.min(DELIVERY.c.not_before)).where(
        DELIVERY.c.mailing_id == mailing_id, DELIVERY.c.state == DeliveryState.SENT
    )
    found: datetime | None = connection.execute(earliest).scalar()
    return found


def _unsubscribed(mailing_id: int, since: datetime) -> Any:
    """(locale, readers) who left after this send was the last one they got; `since`, the
    earliest due time of its sent deliveries (first_due). No delivery goes out before it is
    due (a claim takes only those due by the worker's clock, which stamps `sent_at`), so only
    the leaves from `since` on can count: without that bound PostgreSQL read every delivery
    of the send once the list had a history of leaves."""
    later = aliased(DELIVERY)
    left = CONSENT_EVENT.c.kind.in_(("unsubscribed", "complained"))
    return (
        select(DELIVERY.c.locale, func.count(DELIVERY.c.subscriber_id.distinct()))
        .join(
            CONSENT_EVENT,
            and_(
                CONSENT_EVENT.c.subscriber_id == DELIVERY.c.subscriber_id,
                left,
                CONSENT_EVENT.c.at >= DELIVERY.c.sent_at,
                CONSENT_EVENT.c.at >= since,
            ),
        )
        .where(
            DELIVERY.c.mailing_id == mailing_id,
            DELIVERY.c.state == DeliveryState.SENT,
            ~exists().where(
                later.c.subscriber_id == DELIVERY.c.subscriber_id,
                later.c.state == DeliveryState.SENT,
                later.c.sent_at > DELIVERY.c.sent_at,
                later.c.sent_at <= CONSENT_EVENT.c.at,
            ),
        )
        .group_by(DELIVERY.c.locale)
    )


@dataclass(frozen=True)
class EventRow:
    """One inbound event as `newsletter bounces` lists it."""

    at: datetime
    kind: str
    issue: str
    """The issue of the delivery it was tied to ("" when unmatched)."""
    email: str
    """The subscriber's address now ("" when unmatched or forgotten)."""
    status: str
    diagnostic: str
    matched_by: str
    action: str
    reason: str
    source: str


def events(
    engine: Engine,
    *,
    mailing_id: int | None = None,
    subscriber_id: int | None = None,
    since: datetime | None = None,
    kinds: tuple[str, ...] = (),
    limit: int | None = 100,
) -> list[EventRow]:
    """The inbound events, newest first: of one send or one subscriber, since a time, of
    some kinds; at most `limit` (None: all)."""
    query = (
        select(
            INBOUND_EVENT.c.at,
            INBOUND_EVENT.c.kind,
            func.coalesce(MAILING.c.issue, ""),
            func.coalesce(SUBSCRIBER.c.email, ""),
            INBOUND_EVENT.c.status,
            INBOUND_EVENT.c.diagnostic,
            INBOUND_EVENT.c.matched_by,
            INBOUND_EVENT.c.action,
            INBOUND_EVENT.c.reason,
            INBOUND_MESSAGE.c.source,
        )
        .join(INBOUND_MESSAGE, INBOUND_MESSAGE.c.id == INBOUND_EVENT.c.message_id)
        .outerjoin(MAILING, MAILING.c.id == INBOUND_EVENT.c.mailing_id)
        .outerjoin(SUBSCRIBER, SUBSCRIBER.c.id == INBOUND_EVENT.c.subscriber_id)
        .order_by(INBOUND_EVENT.c.at.desc(), INBOUND_EVENT.c.id.desc())
        .limit(limit)
    )
    if mailing_id is not None:
        query = query.where(INBOUND_EVENT.c.mailing_id == mailing_id)
    if subscriber_id is not None:
        query = query.where(INBOUND_EVENT.c.subscriber_id == subscriber_id)
    if since is not None:
        query = query.where(INBOUND_EVENT.c.at >= since)
    if kinds:
        query = query.where(INBOUND_EVENT.c.kind.in_(kinds))
    with engine.connect() as connection:
        return [EventRow(*tuple(row)) for row in connection.execute(query)]


def subscriber_events(engine: Engine, subscriber_id: int) -> list[dict[str, Any]]:
    """What came back about one subscriber, oldest first: for `subscribers show` and the
    personal-data export."""
    return [
        {"at": row.at.isoformat(), "kind": row.kind, "issue": row.issue, "status": row.status,
         "diagnostic": row.diagnostic, "action": row.action, "source": row.source}
        for row in reversed(events(engine, subscriber_id=subscriber_id, limit=None))
    ]  # fmt: skip
