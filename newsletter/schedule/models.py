"""The schedule's tables. Change them only together with a migration in newsletter/migrations.

    apscheduler_jobs  APScheduler's job store: one row per schedule (its trigger, pickled)
    schedule_firing   one row per firing of a schedule: which issue it sent, or why not
    service_lease     which `newsletter run` process leads the schedule, and until when

A firing is unique per (schedule, wall-clock time): a clock that shows 02:30 twice (the autumn
DST change), a restart, or a second leader can fire a schedule again, but never make it send
twice, nor pick a second issue for the same week.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Float, LargeBinary, Table, Text, Unicode, UniqueConstraint
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow


class FiringState(StrEnum):
    """What came of a firing. The `state` column holds the value (a plain string: members
    equal their values, so queries and stored rows need no conversion)."""

    STARTED = "started"
    """The issue is chosen; its send is being set up (still so after a crash half-way)."""
    QUEUED = "queued"
    """The send's audience is in the outbox."""
    NO_ISSUE = "no-issue"
    """No issue was ready: nothing was sent."""
    MISSED = "missed"
    """The service was down for longer than the grace period: nothing was sent."""
    FAILED = "failed"
    """The issue could not be loaded, rendered or queued."""


class Firing(SQLModel, table=True):
    """One firing of a schedule, and what came of it."""

    __tablename__ = "schedule_firing"
    __table_args__ = (UniqueConstraint("job_id", "wall_time"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=191, index=True)
    wall_time: str = Field(max_length=19)
    """The time it fired for, on the schedule's own clock: `2026-10-25 02:30:00`."""
    scheduled_at: datetime = Field(sa_type=UTCDateTime)
    fired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    issue: str = Field(default="", max_length=200)
    """The issue it sends ("" when none was ready)."""
    state: str = Field(default=FiringState.STARTED, max_length=16)
    """A FiringState (typed `str`: an enum annotation would make SQLModel store its names)."""
    detail: str = Field(default="", max_length=1000)
    schedule: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """The schedule's settings as JSON, so that an interrupted firing can be completed even
    when its schedule is gone (a one-off is removed once it fired)."""


class Lease(SQLModel, table=True):
    """A role only one process may hold at a time (the schedule's leader), until `expires_at`."""

    __tablename__ = "service_lease"

    name: str = Field(max_length=50, primary_key=True)
    holder: str = Field(max_length=100)
    """The process (host:pid) that holds it."""
    acquired_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


# APScheduler's SQLAlchemyJobStore table, declared here so that the migrations create it (the
# job store only checks that it exists). Same columns as apscheduler.jobstores.sqlalchemy.
JOBS = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
FIRING = SQLModel.metadata.tables[Firing.__tablename__]
LEASE = SQLModel.metadata.tables[Lease.__tablename__]
