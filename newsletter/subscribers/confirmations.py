"""How often one address gets a confirmation email, whoever asks for it and from where.

Anyone can post someone else's address to the subscribe form, from as many client addresses as
they like: without a limit per address, 20 posts send 20 confirmation emails to a person who
never asked for one. Each confirmation sent is recorded in the subscriber's consent history (a
`confirmation-sent` event: evidence of the double opt-in as well), and a new one is sent only
when none went out in the last `INTERVAL` and fewer than `PER_DAY` in the last day. The count
lives in the database, so it holds across processes and restarts; the subscribers' rows are
locked while they are read and written, so two requests at the same moment never both send.

The count is per mailbox, not per spelling: `Victim@Example.ORG` and `victim@example.org` are
one subscriber already (their comparison key), and so are a domain written in Unicode and in
A-labels; `victim+1@example.org` and `victim+2@example.org` are subscribers of their own (each
address is kept as the reader wrote it) but one inbox, so their confirmations count together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from newsletter.db import lock_for_writing
from newsletter.subscribers.addresses import mailbox_key
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
    lock_for_writing(session.connection())  # SQLite: the write lock, held until commit.
    sharing = _same_mailbox(session, subscriber.email_key)  # PostgreSQL: their rows' locks.
    sent = session.exec(
        select(ConsentEvent.at).where(
            col(ConsentEvent.subscriber_id).in_(sharing),
            ConsentEvent.kind == SENT,
            col(ConsentEvent.at) > now - timedelta(days=1),
        )
    ).all()
    if len(sent) >= PER_DAY or any(at > now - INTERVAL for at in sent):
        return False
    record(session, subscriber, SENT, "email", source, now)
    return True


def _same_mailbox(session: Session, key: str) -> list[int]:
    """The ids of the subscribers whose address delivers to the mailbox of `key`, locked
    (`local@domain` and every `local+tag@domain`)."""
    mailbox = mailbox_key(key)
    local, _, domain = mailbox.rpartition("@")
    candidates = session.exec(
        select(Subscriber.id, Subscriber.email_key)
        .where(
            (col(Subscriber.email_key) == mailbox)
            | (
                col(Subscriber.email_key).startswith(f"{local}+", autoescape=True)
                & col(Subscriber.email_key).endswith(f"@{domain}", autoescape=True)
            )
        )
        .with_for_update()
    ).all()
    # LIKE may fold case on some databases: the keys themselves decide.
    return [id_ for id_, found in candidates if id_ is not None and mailbox_key(found) == mailbox]


def release_confirmation(session: Session, subscriber: Subscriber, now: datetime) -> None:
    """Forget the claim made at `now`: the email could not be sent, so it does not count."""
    session.exec(
        delete(ConsentEvent).where(
            col(ConsentEvent.subscriber_id) == subscriber.id,
            col(ConsentEvent.kind) == SENT,
            col(ConsentEvent.at) == now,
        )
    )
