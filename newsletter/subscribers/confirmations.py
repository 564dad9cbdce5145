"""How often one address gets a confirmation email, whoever asks for it and from where.

Anyone can post someone else's address to the subscribe form, from as many client addresses as
they like: without a limit per address, 20 posts send 20 confirmation emails to a person who
never asked for one. Each confirmation sent is recorded in the subscriber's consent history (a
`confirmation-sent` event: evidence of the double opt-in as well), and a new one is sent only
when none went out in the last `INTERVAL` and fewer than `PER_DAY` in the last day. The count
lives in the database, so it holds across processes and restarts; the subscriber's row is
locked while it is read and written, so two requests at the same moment never both send.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from newsletter.db import lock_for_writing
from newsletter.subscribers.models import ConsentEvent, Subscriber
from newsletter.subscribers.registry import record

INTERVAL = timedelta(minutes=10)
"""At most one confirmation email per address in this time."""
PER_DAY = 3
"""At most this many confirmation emails per address in any 24 hours."""
SENT = "confirmation-sent"


def claim_confirmation(
    session: Session, subscriber: Subscriber, *, source: str, now: datetime
) -> bool:
    """Whether a confirmation email may go to `subscriber` now; if so, it is recorded (commit
    before sending). Call at the start of a transaction: it takes the subscriber's lock."""
    assert subscriber.id is not None
    connection = session.connection()
    lock_for_writing(connection)  # SQLite: the write lock, held until commit.
    session.exec(  # PostgreSQL: the row's lock; a second request waits here for the first.
        select(Subscriber.id).where(Subscriber.id == subscriber.id).with_for_update()
    ).one()
    sent = session.exec(
        select(ConsentEvent.at).where(
            ConsentEvent.subscriber_id == subscriber.id,
            ConsentEvent.kind == SENT,
            col(ConsentEvent.at) > now - timedelta(days=1),
        )
    ).all()
    if len(sent) >= PER_DAY or any(at > now - INTERVAL for at in sent):
        return False
    record(session, subscriber, SENT, "email", source, now)
    return True


def release_confirmation(session: Session, subscriber: Subscriber, now: datetime) -> None:
    """Forget the claim made at `now`: the email could not be sent, so it does not count."""
    session.exec(
        delete(ConsentEvent).where(
            col(ConsentEvent.subscriber_id) == subscriber.id,
            col(ConsentEvent.kind) == SENT,
            col(ConsentEvent.at) == now,
        )
    )
