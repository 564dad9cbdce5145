"""The subscriber tables (SQLModel). Change them only together with a migration in newsletter/migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow

STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "manual", "forgotten")


class Subscriber(SQLModel, table=True):
    """One reader: address, language, time zone, status and how they consented."""

    __tablename__ = "subscriber"
    __table_args__ = (
        # Each holds only the rows it is for (subscribers/growth.py counts ranges of them): who
        # confirmed, and when (the sequences find who confirmed lately by it too); who joined
        # without a confirmation (imported, added as active), and when; who left, and when.
        # Partial, so that `confirmed_at IS NULL` can only take the second: SQLite, which has
        # no statistics, would otherwise read every unconfirmed row through the first.
        Index(
            "ix_subscriber_confirmed_at",
            "confirmed_at",
            sqlite_where=text("confirmed_at IS NOT NULL"),
            postgresql_where=text("confirmed_at IS NOT NULL"),
        ),
        Index(
            "ix_subscriber_unconfirmed",
            "created_at",
            "status",
            "confirmed_at",  # Always NULL: so that SQLite reads nothing else (PostgreSQL knows).
            sqlite_where=text("confirmed_at IS NULL"),
            postgresql_where=text("confirmed_at IS NULL"),
        ),
        Index(
            "ix_subscriber_left",
            "unsubscribed_at",
            sqlite_where=text("unsubscribed_at IS NOT NULL"),
            postgresql_where=text("unsubscribed_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320, unique=True)
    """The address folded for comparison: two spellings of one address are one subscriber."""
    name: str = Field(default="", max_length=200)
    locale: str = Field(max_length=35)
    timezone: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16, index=True)
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict)
    )
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_method: str = Field(default="", max_length=32)
    consent_source: str = Field(default="", max_length=500)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Tag(SQLModel, table=True):
    """A label subscribers choose or are given (`weekly`, `beta`); sends can target one."""

    __tablename__ = "tag"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)


class SubscriberTag(SQLModel, table=True):
    """Which subscriber has which tag."""

    __tablename__ = "subscriber_tag"

    subscriber_id: int = Field(
        sa_column=Column(Integer, ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True)
    )
    tag_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class ConsentEvent(SQLModel, table=True):
    """An auditable step of consent: subscribed, confirmed, imported, unsubscribed..."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    kind: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    method: str = Field(default="", max_length=32)
    source: str = Field(default="", max_length=500)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict)
    )


class Suppression(SQLModel, table=True):
    """An address that must never be mailed again, kept as a hash (no import can override it)."""

    __tablename__ = "suppression"

    email_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The tables as SQLAlchemy Core sees them, for bulk statements (the import, the outbox).
SUBSCRIBER = SQLModel.metadata.tables[Subscriber.__tablename__]
SUBSCRIBER_TAG = SQLModel.metadata.tables[SubscriberTag.__tablename__]
TAG = SQLModel.metadata.tables[Tag.__tablename__]
CONSENT_EVENT = SQLModel.metadata.tables[ConsentEvent.__tablename__]
SUPPRESSION = SQLModel.metadata.tables[Suppression.__tablename__]
