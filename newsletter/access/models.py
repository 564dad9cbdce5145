"""The access tables (SQLModel). Change them only together with a migration in newsletter/migrations.

An API key is stored as the SHA-256 digest of the whole key: the key is 190 random bits, so a
fast digest is as safe as a slow password hash and lets every request find its key by one
index lookup. The short prefix is public: it names the key in lists and logs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from newsletter.db import UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    """A key a program presents as `Authorization: Bearer KEY`."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, unique=True)
    """`nl_` and 8 hex digits: the start of the key, shown in lists (not secret)."""
    digest: str = Field(max_length=64, unique=True)
    """SHA-256 of the whole key, hex."""
    name: str = Field(max_length=100)
    scopes: str = Field(max_length=500)
    """Space-separated scopes (keys.Scope)."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiRequest(SQLModel, table=True):
    """A request sent with an Idempotency-Key, and the answer it got: a retry gets the same
    answer, and never starts a second send."""

    __tablename__ = "api_request"

    api_key_id: int = Field(
        sa_column=Column(Integer, ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True)
    )
    idempotency_key: str = Field(max_length=200, primary_key=True)
    digest: str = Field(max_length=64)
    """SHA-256 of the method, path and body: the same key for another request is refused."""
    status: int = 0
    """The answer's status; 0 while the first request is still being carried out."""
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
