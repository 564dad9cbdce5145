"""The outbox tables (SQLModel). Change them only together with a migration in newsletter/migrations.

A mailing is one issue being sent; its editions are the rendered output it sends, stored so that
a resumed or retried delivery sends exactly what the first one did, whatever happened to the
files since. A delivery is one (mailing, subscriber) pair: UNIQUE, so no send adds anyone twice. It holds
no personal data of its own: the address is read from the subscriber when the message is made,
and a forgotten subscriber leaves only an anonymous row (subscriber_id NULL).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow


class DeliveryState(StrEnum):
    """What became of a delivery so far. The `state` column holds the value (a plain string:
    members equal their values, so queries and stored rows need no conversion)."""

    QUEUED = "queued"
    """Waiting to be claimed (once `not_before` has come)."""
    SENDING = "sending"
    """Claimed by a worker until `lease_until`."""
    SENT = "sent"
    """Final: the mail server (or the local transport) took the message."""
    FAILED = "failed"
    """Final: refused, or still deferred after the last attempt."""
    SKIPPED = "skipped"
    """Final: the subscriber left (or was forgotten) after the audience was taken."""


FINAL = (DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.SKIPPED)
"""The states a send is done with (`send --only-failed` queues failed deliveries again)."""
UNFINISHED = (DeliveryState.QUEUED, DeliveryState.SENDING)
"""The states of deliveries still to send."""
STEP_MAILINGS = "sequence:"
"""The start of the name of a mailing that sends a sequence step (`sequence:NAME/STEP@VERSION`),
not an issue: no issue slug has a colon. Such mailings are never published nor ranked as sends."""


class Mailing(SQLModel, table=True):
    """One issue being sent: its audience lives in `delivery`, its content in `mailing_edition`."""

    __tablename__ = "mailing"

    id: int | None = Field(default=None, primary_key=True)
    issue: str = Field(max_length=200, unique=True)
    """The issue's slug."""
    uid: str = Field(max_length=32)
    """Random; makes Message-IDs unique across databases."""
    commit: str = Field(default="", max_length=64)
    """The git commit of the content that was rendered ("" outside git)."""
    dirty: bool = False
    """The issue had uncommitted changes when it was rendered."""
    tag: str = Field(default="", max_length=100)
    """The tag the audience was limited to ("" for every active subscriber)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Set while the send is paused: no worker claims its deliveries (those in flight finish)."""
    queueing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Set while its audience is being queued: in parts, each committed as it is made, so that
    workers start on the first at once; more deliveries are coming, and the send is not done.
    Left set by a queueing that was interrupted: `send --resume` queues the rest."""
    audience: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    """The audience being queued, or queued last, as JSON (deliver/audience.audience_record):
    what `send --resume` queues the rest of after an interruption ("": not recorded, a mailing
    made before migration 0020)."""


class MailingEdition(SQLModel, table=True):
    """What a mailing sends in one locale, rendered once, with placeholders still in it."""

    __tablename__ = "mailing_edition"

    mailing_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mailing.id", ondelete="CASCADE"), primary_key=True)
    )
    locale: str = Field(max_length=35, primary_key=True)
    subject: str = Field(max_length=500)
    web_url: str = Field(max_length=2000)
    html: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))


class Delivery(SQLModel, table=True):
    """One message of a mailing to one subscriber, and what became of it."""

    __tablename__ = "delivery"
    __table_args__ = (
        # One delivery of a mailing per subscriber; the subscriber first, so the same index
        # finds a subscriber's deliveries (their history; forgetting them). See 0021.
        UniqueConstraint("subscriber_id", "mailing_id"),
        # Due deliveries in the order a claim takes them (when due, then id): see outbox.claim.
        Index("ix_delivery_claim", "mailing_id", "state", "not_before", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailing_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mailing.id", ondelete="CASCADE"), nullable=False)
    )
    subscriber_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("subscriber.id", ondelete="SET NULL"), nullable=True),
    )
    locale: str = Field(max_length=35)
    """The edition this subscriber gets."""
    state: str = Field(default=DeliveryState.QUEUED, max_length=16)
    """A DeliveryState (typed `str`: an enum annotation would make SQLModel store its names)."""
    attempts: int = 0
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    """Not claimed before this time (a retry's backoff)."""
    claimed_by: str = Field(default="", max_length=100)
    """The worker (host:pid) that holds the claim, while the state is `sending`."""
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reply: str = Field(default="", max_length=1000)
    """The server's last reply (or what went wrong)."""
    message_id: str = Field(default="", max_length=200)
    queued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The tables as SQLAlchemy Core sees them, for the outbox's bulk statements.
MAILING = SQLModel.metadata.tables[Mailing.__tablename__]
MAILING_EDITION = SQLModel.metadata.tables[MailingEdition.__tablename__]
DELIVERY = SQLModel.metadata.tables[Delivery.__tablename__]


class SendPace(SQLModel, table=True):
    """Where the installation's rate limit stands: the time from which sending slots are free.

    One row per limit (today one, `transport`), shared by every worker of every process and
    host that uses this database; deliver/pacing.py hands out slots from it.
    """

    __tablename__ = "send_pace"

    name: str = Field(max_length=100, primary_key=True)
    next_at: float = 0.0
    """Seconds since the epoch at which the next free slot starts."""


SEND_PACE = SQLModel.metadata.tables[SendPace.__tablename__]
