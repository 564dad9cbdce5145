"""What a matched notice does to its subscriber.

    hard          bounced and suppressed at once
    soft          counted; `soft_bounce_limit` of them (one per delivery) within
                  `soft_bounce_days` make the subscriber bounced and suppressed
    complaint     unsubscribed and suppressed at once (status complained): consent withdrawn
    unsubscribe   unsubscribed (a mailto request, RFC 8058's mailto path)
    policy, delay, autoreply, delivered, unknown: stored, change nothing

Only notices tied to one of our deliveries (or a valid unsubscribe token) reach this module;
it reuses the registry's unsubscribe, which records the consent event and suppresses the
address, as the outbox does for a 5.1.x reply during the SMTP conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from newsletter.inbound.models import InboundEvent
from newsletter.inbound.notices import Kind
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber


@dataclass(frozen=True)
class BouncePolicy:
    """How many soft bounces, within how long, suppress an address."""

    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=30)


def apply(
    session: Session,
    policy: BouncePolicy,
    kind: Kind,
    subscriber_id: int | None,
    delivery_id: int | None,
    *,
    why: str,
    now: datetime,
) -> str:
    """Apply the policy for one matched notice; what it did: suppressed, complained,
    unsubscribed, counted, already (nothing left to do) or none."""
    if subscriber_id is None or kind not in (
        Kind.HARD,
        Kind.SOFT,
        Kind.COMPLAINT,
        Kind.UNSUBSCRIBE,
    ):
        return "none"
    # Its row locked on PostgreSQL (SQLite holds the write lock already): two processors
    # counting the same subscriber's soft bounces at once cannot both stay under the limit.
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None:
        return "none"
    if kind is Kind.SOFT:
        count = _soft_bounces(session, subscriber_id, delivery_id, now - policy.soft_bounce_window)
        if count < policy.soft_bounce_limit:
            return "counted"
        why = f"{count} soft bounces within {policy.soft_bounce_window.days} days; last: {why}"
    if kind in (Kind.HARD, Kind.SOFT):
        method, reason, done = "bounce", "bounced", "suppressed"
    elif kind is Kind.COMPLAINT:
        method, reason, done = "complaint", "complained", "complained"
    else:
        method, reason, done = "email", "unsubscribed", "unsubscribed"
    changed = registry.unsubscribe(
        session, subscriber, method=method, source=why, now=now, reason=reason
    )
    return done if changed else "already"


def _soft_bounces(
    session: Session, subscriber_id: int, delivery_id: int | None, since: datetime
) -> int:
    """Soft bounces of the subscriber since `since`, this one included, one per delivery
    (a message that soft-bounced at two hops is one failure)."""
    earlier = session.exec(
        select(InboundEvent.delivery_id, InboundEvent.id).where(
            InboundEvent.subscriber_id == subscriber_id,
            InboundEvent.kind == Kind.SOFT.value,
            col(InboundEvent.at) >= since,
        )
    ).all()
    failures = {("delivery", d) if d is not None else ("event", e) for d, e in earlier}
    failures.add(("delivery", delivery_id) if delivery_id is not None else ("event", 0))
    return len(failures)
