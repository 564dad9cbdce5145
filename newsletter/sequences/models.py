"""The sequence tables (SQLModel). Change them only together with a migration in newsletter/migrations.

sequence_step      each step of each sequence, and when it was first seen: a step added
                   later does not go to members whose time for it had long passed
sequence_member    who is in which sequence: since when (the confirmation, or when they
                   were put in), how, and when they left (unsubscribed, bounced ...)
sequence_delivery  the step each member was sent, once: UNIQUE (sequence, step, member),
                   whichever version of the step it was, and the delivery that carries it
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow

# How a member entered: confirmed their subscription, was imported or put in by the operator.
ENTRIES = ("confirmed", "imported", "entered")


class SequenceStep(SQLModel, table=True):
    """A step of a sequence, known since `first_seen`."""

    __tablename__ = "sequence_step"

    sequence: str = Field(max_length=60, primary_key=True)
    step: str = Field(max_length=90, primary_key=True)
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SequenceMember(SQLModel, table=True):
    """A subscriber in a sequence."""

    __tablename__ = "sequence_member"
    __table_args__ = (Index("ix_sequence_member_entered", "sequence", "left_at", "entered_at"),)

    sequence: str = Field(max_length=60, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(Integer, ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True)
    )
    entered_at: datetime = Field(sa_type=UTCDateTime)
    how: str = Field(max_length=16)
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SequenceDelivery(SQLModel, table=True):
    """The step `step` of `sequence`, queued for one member."""

    __tablename__ = "sequence_delivery"
    __table_args__ = (Index("ix_sequence_delivery_member", "subscriber_id", "sequence"),)

    sequence: str = Field(max_length=60, primary_key=True)
    step: str = Field(max_length=90, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(Integer, ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True)
    )
    delivery_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("delivery.id", ondelete="SET NULL"), nullable=True),
    )
    queued_at: datetime = Field(sa_type=UTCDateTime)


SEQUENCE_STEP = SQLModel.metadata.tables[SequenceStep.__tablename__]
SEQUENCE_MEMBER = SQLModel.metadata.tables[SequenceMember.__tablename__]
SEQUENCE_DELIVERY = SQLModel.metadata.tables[SequenceDelivery.__tablename__]
