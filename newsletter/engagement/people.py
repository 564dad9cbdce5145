"""One reader's clicks and opens: stored with their delivery only with `tracking = "individual"`.

    subscriber_clicks   the tracking links one subscriber followed, oldest first
    subscriber_opens    the loads of the open pixel in their messages, oldest first
    forget_clicks       their clicks and opens untied from their deliveries (a GDPR erasure)
    forget_person       the whole erasure: clicks untied, then the subscriber deleted

`subscribers show` and its JSON (the answer to a GDPR access request) list the first two;
`subscribers forget` calls the third in the transaction that deletes the subscriber. A click
of the aggregate mode names no delivery, so none of it is anybody's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import Session

from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.engagement.models import EDITION_OPEN, LINK_CLICK, TRACKED_LINK
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber


def subscriber_clicks(engine: Engine, subscriber_id: int) -> list[dict[str, Any]]:
    """Each request of a tracking link stored with one of the subscriber's deliveries, oldest
    first: when, the issue and its language, where the link goes, its text and story, and
    what kind of client asked (`browser`, `robot`, `head`)."""
    link, click = TRACKED_LINK.c, LINK_CLICK.c
    columns = (link.locale, link.url, link.label, link.story, link.story_title)
    query = (
        select(click.at, MAILING.c.issue, *columns, click.agent, click.client)
        .join(DELIVERY, DELIVERY.c.id == click.delivery_id)
        .join(TRACKED_LINK, link.id == click.link_id)
        .join(MAILING, MAILING.c.id == link.mailing_id)
        .where(DELIVERY.c.subscriber_id == subscriber_id)
        .order_by(click.at, click.id)
    )
    with engine.connect() as connection:
        return [
            {"at": row.at.isoformat(), "issue": row.issue, "locale": row.locale, "url": row.url,
             "label": row.label, "story": row.story, "story_title": row.story_title,
             "agent": row.agent, "client": row.client}
            for row in connection.execute(query)
        ]  # fmt: skip


def subscriber_opens(engine: Engine, subscriber_id: int) -> list[dict[str, Any]]:
    """Each load of the open pixel stored with one of the subscriber's deliveries, oldest
    first (only with `open_tracking` too)."""
    opened = EDITION_OPEN.c
    query = (
        select(opened.at, MAILING.c.issue, opened.locale, opened.agent, opened.client)
        .join(DELIVERY, DELIVERY.c.id == opened.delivery_id)
        .join(MAILING, MAILING.c.id == opened.mailing_id)
        .where(DELIVERY.c.subscriber_id == subscriber_id)
        .order_by(opened.at, opened.id)
    )
    with engine.connect() as connection:
        return [
            {"at": row.at.isoformat(), "issue": row.issue, "locale": row.locale,
             "agent": row.agent, "client": row.client}
            for row in connection.execute(query)
        ]  # fmt: skip


def forget_clicks(session: Session, subscriber_id: int) -> int:
    """Untie the subscriber's clicks and opens from their deliveries, in the caller's
    transaction (before the subscriber is deleted); how many were. The rows stay, so the
    issues' counts stay what they were, and none of them leads back to the person: their
    deliveries are still in the messages in their mailbox, in every tracking URL."""
    theirs = select(DELIVERY.c.id).where(DELIVERY.c.subscriber_id == subscriber_id)
    untied = 0
    for table in (LINK_CLICK, EDITION_OPEN):
        statement = update(table).where(table.c.delivery_id.in_(theirs)).values(delivery_id=None)
        untied += session.connection().execute(statement).rowcount
    return untied


def forget_person(session: Session, subscriber: Subscriber, now: datetime) -> int:
    """Erase a person (GDPR), in the caller's transaction: their clicks and opens untied, then
    everything about them deleted but the suppression hash; how many clicks and opens stay as
    counts only. What `subscribers forget` and the API's DELETE both do."""
    assert subscriber.id is not None
    # While the subscriber's deliveries still name them: deleting them anonymizes those.
    untied = forget_clicks(session, subscriber.id)
    registry.forget(session, subscriber, now)
    return untied
