"""API keys: made with their scopes, shown once, stored as a digest, checked, listed, revoked.

A key reads `nl_1a2b3c4d_` followed by 32 random characters. Its first part (the prefix) names
it in `api-key list` and in logs; only the SHA-256 digest of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from newsletter.access.models import ApiKey
from newsletter.errors import NewsletterError, NotFoundError

KEY_FORMAT = re.compile(r"nl_[0-9a-f]{8}_[A-Za-z0-9_-]{32}")
MAX_NAME = 100
USE_RECORDED_EVERY = timedelta(minutes=1)
"""A key's last use is written at most this often (not one write per request)."""


class Scope(StrEnum):
    """What a key may do."""

    SUBSCRIBERS_READ = "subscribers:read"
    """List, search and read subscribers and tags."""
    SUBSCRIBERS_WRITE = "subscribers:write"
    """Add (with double opt-in or not), update, unsubscribe, forget and import subscribers."""
    SENDS_READ = "sends:read"
    """Read issues, sends, their state and what came back, and the schedules."""
    SENDS_WRITE = "sends:write"
    """Test-send and start, pause and resume sends."""
    SCHEDULES_WRITE = "schedules:write"
    """Add, pause, resume and cancel schedules."""


SCOPE_HINT = "use one or more of " + ", ".join(scope.value for scope in Scope)


@dataclass(frozen=True)
class KeyHolder:
    """Who presented a valid key: its id, prefix, name and scopes."""

    id: int
    prefix: str
    name: str
    scopes: frozenset[Scope]
    last_used_at: datetime | None


def parse_scopes(given: Iterable[str]) -> frozenset[Scope]:
    """The scopes named (space or comma separated, repeated); NewsletterError for an unknown one
    or none at all."""
    names = [name for item in given for name in re.split(r"[\s,]+", item) if name]
    if not names:
        raise NewsletterError("an API key needs at least one scope", hint=SCOPE_HINT)
    chosen = set()
    for name in names:
        try:
            chosen.add(Scope(name))
        except ValueError:
            raise NewsletterError(f"{name!r} is not a scope", hint=SCOPE_HINT) from None
    return frozenset(chosen)


def create_key(
    engine: Engine, name: str, scopes: frozenset[Scope], now: datetime
) -> tuple[ApiKey, str]:
    """A new key named `name` with `scopes`: its record and the key itself (shown only now)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise NewsletterError(
            f"an API key's name is 1 to {MAX_NAME} characters",
            hint="name it after the program that uses it, such as website-signup",
        )
    prefix = f"nl_{secrets.token_hex(4)}"
    key = f"{prefix}_{secrets.token_urlsafe(24)}"
    record = ApiKey(
        prefix=prefix,
        digest=_digest(key),
        name=name,
        scopes=" ".join(sorted(scope.value for scope in scopes)),
        created_at=now,
    )
    with Session(engine) as session:
        session.add(record)
        session.commit()
        session.refresh(record)
    return record, key


def holder_of(engine: Engine, presented: str, now: datetime) -> KeyHolder | None:
    """Who `presented` (a bearer token) belongs to: a key that exists and is not revoked."""
    if not KEY_FORMAT.fullmatch(presented):
        return None
    with Session(engine) as session:
        record = session.exec(
            select(ApiKey).where(col(ApiKey.digest) == _digest(presented))
        ).first()
        if record is None or record.revoked_at is not None or record.id is None:
            return None
        if record.last_used_at is None or now - record.last_used_at >= USE_RECORDED_EVERY:
            session.execute(
                update(ApiKey).where(col(ApiKey.id) == record.id).values(last_used_at=now)
            )
            session.commit()
        return KeyHolder(
            record.id,
            record.prefix,
            record.name,
            frozenset(Scope(name) for name in record.scopes.split()),
            record.last_used_at,
        )


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key ever made, revoked ones too, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(ApiKey).order_by(col(ApiKey.id))))


def revoke_key(engine: Engine, prefix: str, now: datetime) -> ApiKey:
    """Revoke the key whose prefix is `prefix` (from `api-key list`); it works no more."""
    with Session(engine) as session:
        record = session.exec(select(ApiKey).where(col(ApiKey.prefix) == prefix.strip())).first()
        if record is None:
            raise NotFoundError(
                f"no API key {prefix!r}", hint="run `newsletter api-key list` to see the keys"
            )
        if record.revoked_at is None:
            record.revoked_at = now
            session.add(record)
            session.commit()
            session.refresh(record)
        return record


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()
