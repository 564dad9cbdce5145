"""The inbound tables (SQLModel). Change them only together with a migration in newsletter/migrations.

    inbound_message   one row per message or webhook event processed, UNIQUE by its digest:
                      what makes processing exactly once (the same DSN twice is one row)
    inbound_event     one row per notice in it: what happened, to which delivery, what the
                      policy did about it

An event holds no personal data of its own: the recipient is kept as its suppression-list hash,
and a forgotten subscriber leaves an anonymous row (subscriber_id NULL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow

# How a notice was tied to one of our deliveries, strongest first.
MATCHES = ("verp", "message-id", "recipient", "token", "none")
MAX_DIAGNOSTIC = 500


class InboundMessage(SQLModel, table=True):
    """One inbound message (or provider event) processed: its digest, and what it held."""

    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    """SHA-256 of the raw message (or of the provider's event id)."""
    source: str = Field(default="", max_length=500)
    kinds: str = Field(default="", max_length=200)
    """The kinds of its notices, comma-separated (`hard`, `complaint,unknown`); "" for none."""
    problem: str = Field(default="", max_length=500)
    """Why it could not be read, "" when it was."""
    kept: bool = False
    """Left for a human: unreadable, or a notice in it matched none of our deliveries."""
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InboundEvent(SQLModel, table=True):
    """What one notice said about one recipient, the delivery it was tied to, and the outcome."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        Index("ix_inbound_event_mailing", "mailing_id", "kind"),
        Index("ix_inbound_event_subscriber", "subscriber_id", "at"),
        Index("ix_inbound_event_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("inbound_message.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    kind: str = Field(max_length=16)
    """hard, soft, policy, complaint, autoreply, delay, unsubscribe, delivered, unknown."""
    delivery_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("delivery.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    mailing_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("mailing.id", ondelete="SET NULL"), nullable=True),
    )
    subscriber_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("subscriber.id", ondelete="SET NULL"), nullable=True),
    )
    locale: str = Field(default="", max_length=35, sa_column_kwargs={"server_default": ""})
    """The locale of the delivery's edition ("" without a delivery): the send's reports count
    bounces and complaints per locale without reading the deliveries."""
    recipient_hash: str = Field(default="", max_length=64)
    """The suppression-list hash of the recipient's address key, "" when none was given."""
    status: str = Field(default="", max_length=16)
    """The RFC 3463 status code (`5.1.1`)."""
    diagnostic: str = Field(default="", max_length=MAX_DIAGNOSTIC)
    matched_by: str = Field(default="none", max_length=16)
    """verp, message-id, recipient, token or none."""
    reason: str = Field(default="", max_length=200)
    """Why it matched no delivery, "" when it did."""
    action: str = Field(default="", max_length=32)
    """What the policy did: suppressed, unsubscribed, complained, counted, none."""
    source: str = Field(default="", max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The tables as SQLAlchemy Core sees them, for counting statements.
INBOUND_MESSAGE = SQLModel.metadata.tables[InboundMessage.__tablename__]
INBOUND_EVENT = SQLModel.metadata.tables[InboundEvent.__tablename__]
