"""What an inbound message or a provider's webhook event says, before it touches the database.

    Kind      what happened to one recipient: hard, soft, policy, complaint, autoreply, delay,
              unsubscribe, unknown
    Notice    one recipient's fate, with everything that can tie it to one of our deliveries
    Reading   one inbound message (or webhook event) read: its notices, its digest, why it
              was not understood

Parsers (inbound/classify.py for mail, inbound/providers/ for webhooks) make Readings; the
processor (inbound/processor.py) matches each notice to a delivery, applies the policy and
stores it, exactly once per Reading (by its digest).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """What a notice says happened; the values are what `inbound classify --json` prints."""

    HARD = "hard"
    """The address does not exist, or never will take mail (5.1.1, 5.1.2, 5.1.10...)."""
    SOFT = "soft"
    """A failure that may pass (4.x.x given up on, mailbox full 5.2.2, message too big 5.3.4)."""
    POLICY = "policy"
    """The receiver refused the message by policy (5.7.x: spam, reputation, authentication)."""
    COMPLAINT = "complaint"
    """The reader marked the message as spam (ARF feedback report, provider complaint)."""
    AUTOREPLY = "autoreply"
    """A vacation or out-of-office answer (RFC 3834): never a bounce."""
    DELAY = "delay"
    """The message is delayed and still being tried (`Action: delayed`): not a failure."""
    UNSUBSCRIBE = "unsubscribe"
    """Mail to the List-Unsubscribe mailto address (RFC 8058's mailto path)."""
    DELIVERED = "delivered"
    """A provider's delivery confirmation (webhooks): stored, changes nothing."""
    UNKNOWN = "unknown"
    """Nothing we can read: kept for a human."""


@dataclass(frozen=True)
class Notice:
    """One thing an inbound message or event says about one recipient.

    Each reference that can tie it to our delivery is kept, strongest first: the VERP address
    it came back to, our Message-ID in the returned headers, the recipient's address.
    """

    kind: Kind
    recipient: str = ""
    """The recipient the report is about (the original recipient when the report names one),
    as written; "" when none was found."""
    status: str = ""
    """The RFC 3463 enhanced status code (`5.1.1`), "" when the report gives none."""
    diagnostic: str = ""
    """The remote server's words (`smtp; 550 5.1.1 User unknown`), one line."""
    verp: str = ""
    """The return-path address the report was delivered to (a VERP address of ours, checked by
    the processor), "" when none was found."""
    message_id: str = ""
    """The Message-ID of the returned original (`<uid.id@domain>`), "" when not returned."""
    unsubscribe_token: str = ""
    """The signed unsubscribe token of a mailto unsubscribe."""


@dataclass(frozen=True)
class Reading:
    """One inbound message or webhook event, read."""

    digest: str
    """SHA-256 (hex) of the raw message, or of the provider's event id: what makes processing
    exactly once (the same message or event again is recognized and changes nothing)."""
    notices: tuple[Notice, ...] = ()
    problem: str = ""
    """Why nothing could be read (truncated, not MIME, too large...), "" when read."""
    source: str = ""
    """Where it came from: `maildir:/var/mail/bounces`, `imap://…/INBOX`, `webhook:ses`..."""
    authenticated: bool = False
    """Its source proved who sent it (a provider's webhook whose signature checked): its
    notices may act by Message-ID or recipient. Mail proves nothing: only its signed return
    path or token acts (inbound/matching.py)."""
    details: dict[str, str] = field(default_factory=dict, compare=False)
    """Anything else worth keeping for a human (the report's subject, the provider's type)."""


def digest_of(data: bytes) -> str:
    """The SHA-256 of `data`, hex: a Reading's digest."""
    return hashlib.sha256(data).hexdigest()
