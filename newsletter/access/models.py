"""The access tables (SQLModel). Change them only together with a migration in newsletter/migrations.

An API key is stored as the SHA-256 digest of the whole key: the key is 190 random bits, so a
fast digest is as safe as a slow password hash and lets every request find its key by one
index lookup. The short prefix is public: it names the key in lists and logs.

A dashboard user's password is stored as an argon2id hash (access/users.py): people choose
passwords, which are guessable, so only a slow hash makes a stolen table costly to crack. A
dashboard session is stored as the SHA-256 of its random id, for the same reason as a key.
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


class User(SQLModel, table=True):
    """A person who may log in to the dashboard (/admin/), with a role (access/users.Role)."""

    __tablename__ = "admin_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=200)
    """argon2id, in its PHC string form (parameters and salt included)."""
    totp_secret: str | None = Field(default=None, max_length=64)
    """Base32; set when the user has a second factor (an authenticator app's codes)."""
    totp_last_step: int | None = None
    """The 30-second step of the last code accepted: a code is never accepted twice."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Set when the user is removed: the row stays so the audit log's names stay unambiguous."""


class AdminSession(SQLModel, table=True):
    """A logged-in browser: the cookie holds the random id, this row only its digest."""

    __tablename__ = "admin_session"

    digest: str = Field(max_length=64, primary_key=True)
    """SHA-256 of the session id, hex."""
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("admin_user.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    """The absolute end, however active the session is."""


class AdminRequest(SQLModel, table=True):
    """A dashboard form that must be carried out once (starting a send), by the one-time token
    it carries, and where its answer went: a second post of it (a double click, a retry) is
    sent there, and never starts a second send."""

    __tablename__ = "admin_request"

    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("admin_user.id", ondelete="CASCADE"), primary_key=True)
    )
    idempotency_key: str = Field(max_length=200, primary_key=True)
    """The form's one-time token."""
    digest: str = Field(max_length=64)
    """SHA-256 of the method, path and fields: the same token with other values is refused."""
    status: int = 0
    """The answer's status; 0 while the first post is still being carried out."""
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """Where the answer sent the browser."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Who changed what from the dashboard (or the API), and when."""

    __tablename__ = "admin_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=100)
    """A user's name, or `key:` and an API key's prefix."""
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=320)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """JSON: what else the action needs to be understood later."""
