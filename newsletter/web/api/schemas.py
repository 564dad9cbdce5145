"""What the API reads and writes: request bodies checked field by field, answers documented."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber

MAX_TAGS = 50
MAX_ATTRIBUTES = registry.MAX_ATTRIBUTES


class SubscriberOut(BaseModel):
    """A subscriber as the API shows it."""

    id: int
    email: str
    name: str
    locale: str
    timezone: str
    status: str = Field(description="pending, active, unsubscribed, bounced or complained")
    tags: list[str]
    attributes: dict[str, Any]
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None

    @classmethod
    def of(cls, subscriber: Subscriber, tags: list[str]) -> SubscriberOut:
        """The API's view of a stored subscriber with their tags."""
        assert subscriber.id is not None
        return cls(
            id=subscriber.id,
            email=subscriber.email,
            name=subscriber.name,
            locale=subscriber.locale,
            timezone=subscriber.timezone,
            status=subscriber.status,
            tags=tags,
            attributes=subscriber.attributes,
            created_at=subscriber.created_at,
            confirmed_at=subscriber.confirmed_at,
            unsubscribed_at=subscriber.unsubscribed_at,
        )


class SubscriberPage(BaseModel):
    """One page of a list; `next_cursor` fetches the next (null: this was the last)."""

    items: list[SubscriberOut]
    next_cursor: str | None


class NewSubscriber(BaseModel):
    """A subscriber to add."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    name: str = Field("", max_length=200)
    locale: str | None = Field(None, max_length=35, description="Default: the newsletter's.")
    timezone: str | None = Field(None, max_length=64, description="Default: the newsletter's.")
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)
    double_opt_in: bool = Field(
        False,
        description="Send the confirmation email and add them as pending (an external signup "
        "form); false adds them as active, with consent recorded as given to the API.",
    )


class SubscriberChange(BaseModel):
    """What to change of a subscriber; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    tags: list[str] | None = Field(None, max_length=MAX_TAGS)
    attributes: dict[str, Any] | None = Field(None, max_length=MAX_ATTRIBUTES)


class TopicOut(BaseModel):
    """A topic readers may choose (a configured `[topics.TAG]`), named in each locale."""

    tag: str
    names: dict[str, str] = Field(
        description="Its name in each of the newsletter's locales (the default locale's, or "
        "the tag, where none is configured)."
    )


class TagCount(BaseModel):
    """A tag and how many subscribers have it."""

    name: str
    subscribers: int


MAX_IMPORT = 10_000


class ImportedSubscriber(BaseModel):
    """One subscriber of a bulk import; attribute values are stored as text, as from CSV."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    name: str = Field("", max_length=200)
    locale: str = Field("", max_length=35)
    timezone: str = Field("", max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES
    )


class BulkImport(BaseModel):
    """Up to 10,000 subscribers, imported as `subscribers import` imports a CSV file."""

    model_config = ConfigDict(extra="forbid")

    subscribers: list[ImportedSubscriber] = Field(min_length=1, max_length=MAX_IMPORT)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    """Given to every imported subscriber."""


class SkippedItem(BaseModel):
    """An item that was not imported: its position in `subscribers` (from 0), and why."""

    item: int
    reason: str


class ImportResult(BaseModel):
    """What an import did: each item is counted once, or listed in `invalid`."""

    items: int
    created: int
    updated: int
    unchanged: int
    duplicates: int
    suppressed: int
    invalid: list[SkippedItem]


class FiringOut(BaseModel):
    """A schedule's last firing."""

    wall_time: str = Field(description="The time it fired for, on the schedule's own clock.")
    state: str = Field(description="started, queued, no-issue, missed or failed")
    issue: str
    detail: str


class ScheduleOut(BaseModel):
    """A schedule as `schedule list` shows it."""

    id: str
    kind: str = Field(description="once or weekly")
    description: str
    issue: str
    at: str
    days: str
    time: str
    timezone: str
    tag: str
    to: str
    local_time: bool
    paused: bool
    next_run: datetime | None
    last_firing: FiringOut | None


class NewSchedule(BaseModel):
    """A schedule to add: one issue `at` a time, or `weekly` at `when`."""

    model_config = ConfigDict(extra="forbid")

    issue: str | None = Field(None, max_length=200, description="With `at`: the issue to send.")
    at: str | None = Field(None, max_length=40, description='"2026-12-01 08:00"')
    weekly: str | None = Field(None, max_length=60, description='"mon 08:00", "mon,thu 07:30"')
    timezone: str | None = Field(None, max_length=64, description="Default: the newsletter's.")
    tag: str = Field("", max_length=100)
    to: str = Field("", max_length=2000, description="A segment (docs/audience.md).")
    local_time: bool = False


class EditionOut(BaseModel):
    """One edition of an issue."""

    locale: str
    title: str
    stories: int
    offered: bool = Field(description="Whether readers of its locale get it (else the original).")


class FindingOut(BaseModel):
    """Something `newsletter check` reports."""

    severity: str = Field(description="error or warning")
    message: str
    file: str
    line: int | None
    fix: str


class IssueOut(BaseModel):
    """An issue of the content folder."""

    slug: str
    status: str = Field(description="draft or ready, as its front matter says")
    date: datetime | None
    editions: list[EditionOut]
    sent_at: datetime | None = Field(description="When its send started; null: not sent.")
    errors: int
    warnings: int
    findings: list[FindingOut] | None = Field(None, description="Only when one issue is read.")


class SendOut(BaseModel):
    """A send: its deliveries by state (and by locale when one send is read)."""

    issue: str
    started: datetime
    commit: str
    dirty: bool
    audience: str = Field(description='The segment or tag it was limited to ("" for everyone).')
    paused_at: datetime | None = Field(description="Since when it is paused; null: it is not.")
    queueing_since: datetime | None = Field(
        None,
        description="Since when its audience is being queued, in parts (more deliveries are "
        "coming; also left by a queueing that was interrupted: resuming the send queues the "
        "rest); null: it is all queued.",
    )
    states: dict[str, int]
    locales: dict[str, dict[str, int]] | None = None
    failures: list[dict[str, Any]] | None = None
    report: dict[str, Any] | None = Field(
        None, description="What `newsletter report ISSUE --json` says: outcomes and clicks."
    )


class SendPage(BaseModel):
    """A page of sends, newest first."""

    items: list[SendOut]
    next_cursor: str | None


class NewSend(BaseModel):
    """A send to start: `newsletter run` delivers it."""

    model_config = ConfigDict(extra="forbid")

    issue: str = Field(max_length=200)
    to: str | None = Field(None, max_length=2000, description="A segment (docs/audience.md).")


class SendStarted(BaseModel):
    """A send started (or the one started before, when the issue was sent already)."""

    issue: str
    added: int = Field(description="Subscribers added to its audience now.")


class TestSend(BaseModel):
    """A test send: each edition (or those readers of `locales` get) to each address."""

    model_config = ConfigDict(extra="forbid")

    addresses: list[str] = Field(min_length=1, max_length=10)
    locales: list[str] = Field(default_factory=list, max_length=20)


class TestOutcome(BaseModel):
    """What became of one test message."""

    address: str
    edition: str
    state: str
    reply: str
