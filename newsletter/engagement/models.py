"""The engagement tables (SQLModel). Change them only together with a migration in newsletter/migrations.

    tracked_link   one row per link of a mailing's edition (and its hidden honeypot link):
                   the destination a signed /l/ id stands for, the story it belongs to
    link_click     one row per request of a tracking link: when, how (GET or HEAD, which
                   kind of client), a client key that changes every day, and the delivery
                   only with `tracking = "individual"`
    edition_open   one row per load of the open pixel (`open_tracking`), likewise

A click holds no personal data of its own: the client key is a keyed hash of the client's
address and user agent under a random key that lives in one process's memory for one day, so it
tells clicks of one client apart within a burst and nothing after; the delivery (and through it
the subscriber) is kept only when the operator chose individual tracking.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow

HONEYPOT = 0
"""The position of an edition's hidden link: no person sees it, scanners follow it."""

# How a request came: a browser's GET (`browser`), a GET by a client that says it is a robot,
# scanner or preview fetcher (`robot`), a HEAD request (`head`: link checkers and scanners).
AGENTS = ("browser", "robot", "head")


class TrackedLink(SQLModel, table=True):
    """One link of a mailing's edition, as its tracking URL stands for it."""

    __tablename__ = "tracked_link"
    __table_args__ = (UniqueConstraint("mailing_id", "locale", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    mailing_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mailing.id", ondelete="CASCADE"), nullable=False)
    )
    locale: str = Field(max_length=35)
    position: int
    """1, 2, ... in the order a reader meets the links; HONEYPOT (0) for the hidden link."""
    url: str = Field(sa_column=Column(Text, nullable=False))
    """Where the link goes: an absolute http(s) URL as it stood in the sent issue."""
    story: str = Field(default="", max_length=200)
    """The slug of the story the link is in; "" for links outside stories (masthead, CTA)."""
    story_title: str = Field(default="", max_length=500)
    label: str = Field(default="", max_length=200)
    """The link's text (or an image's alt text), on one line."""


class LinkClick(SQLModel, table=True):
    """One request of a tracking link."""

    __tablename__ = "link_click"
    __table_args__ = (Index("ix_link_click_link", "link_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    link_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tracked_link.id", ondelete="CASCADE"), nullable=False)
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    agent: str = Field(default="browser", max_length=16)
    client: str = Field(default="", max_length=32)
    """A keyed hash of the client's address and user agent (a key of the day, in memory only)."""
    delivery_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("delivery.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    """The delivery whose link was followed: only with `tracking = "individual"`."""


class EditionOpen(SQLModel, table=True):
    """One load of an edition's open pixel (only with `open_tracking = true`)."""

    __tablename__ = "edition_open"
    __table_args__ = (Index("ix_edition_open_mailing", "mailing_id", "locale", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    mailing_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mailing.id", ondelete="CASCADE"), nullable=False)
    )
    locale: str = Field(max_length=35)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    agent: str = Field(default="browser", max_length=16)
    client: str = Field(default="", max_length=32)
    delivery_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("delivery.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )


TRACKED_LINK = SQLModel.metadata.tables[TrackedLink.__tablename__]
LINK_CLICK = SQLModel.metadata.tables[LinkClick.__tablename__]
EDITION_OPEN = SQLModel.metadata.tables[EditionOpen.__tablename__]
