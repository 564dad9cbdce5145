"""Double opt-in: a new address made pending, and the confirmation email sent to it.

    request_confirmation  what the subscribe form and the API (double_opt_in) both call

This module joins subscribers, render (the confirm notice) and deliver (the transport): the
web form and the API sign readers up through it, so both send the same email under the same
limits (claim_confirmation: one per address every few minutes, a few a day).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from newsletter.config import Project
from newsletter.deliver.message import send_notice
from newsletter.deliver.models import DeliveryState
from newsletter.deliver.transports import Transport
from newsletter.errors import NewsletterError
from newsletter.render.merge import personalize
from newsletter.render.notices import Notices
from newsletter.subscribers import registry
from newsletter.subscribers.confirmations import claim_confirmation, release_confirmation
from newsletter.subscribers.models import Subscriber
from newsletter.subscribers.tokens import Tokens, page_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mailer:
    """What sends confirmation emails: the project, its notices, links and transport, a clock."""

    project: Project
    notices: Notices
    tokens: Tokens
    transport: Callable[[], Transport]
    clock: Callable[[], datetime]


def request_confirmation(
    mailer: Mailer, db: Session, profile: registry.Profile, *, method: str, source: str
) -> bool:
    """A new address becomes pending; a pending one gets a confirmation email unless one went
    out minutes ago or enough today. False only when the email could not be sent (the mail
    server is down, refused it or asked to try later): the subscriber stays pending."""
    now = mailer.clock()
    subscriber = registry.find(db, profile.address)
    if subscriber is None and not registry.is_suppressed(db, profile.key):
        try:
            subscriber = registry.add(
                db, profile, status="pending", method=method, source=source, now=now
            )
            db.commit()
        except (IntegrityError, NewsletterError):
            # The same new address, posted twice at the same moment (in two processes).
            db.rollback()
            subscriber = registry.find(db, profile.address)
    if subscriber is None or subscriber.status != "pending":
        return True  # Already subscribed, unsubscribed or suppressed: nothing is sent.
    if not claim_confirmation(db, subscriber, source=source, now=now):
        db.rollback()
        return True  # One went out minutes ago, or enough today: nothing is sent.
    db.commit()
    try:
        send_confirmation(mailer, subscriber)
    except (NewsletterError, OSError) as error:
        log.error("confirmation email to subscriber %s failed: %s", subscriber.id, error)
        release_confirmation(db, subscriber, now)
        db.commit()
        return False
    return True


def send_confirmation(mailer: Mailer, subscriber: Subscriber) -> None:
    """The double opt-in email, rendered once per locale and merged for this subscriber;
    NewsletterError or OSError unless the mail server took it."""
    config = mailer.project.config
    notice = mailer.notices.render("confirm", subscriber.locale)
    values = {
        "email": subscriber.email,
        "name": subscriber.name,
        "confirm_url": page_url(
            config.base_url, "confirm", mailer.tokens.make("confirm", subscriber)
        ),
    }
    html, text = personalize(notice.html, notice.text, values)
    sent = send_notice(
        config, mailer.transport, to=subscriber.email, to_name=subscriber.name,
        subject=notice.subject, text=text, html=html, now=mailer.clock(), reply_to=config.reply_to,
    )  # fmt: skip
    if sent.state != DeliveryState.SENT:
        # Refused (5xx) or deferred (4xx): the reader learns now, and may try again later.
        raise NewsletterError(f"the mail server did not take it: {sent.state}: {sent.reply}")
