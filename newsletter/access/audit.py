"""The audit log: who changed what from the dashboard (or the API), and when.

An entry is added in the caller's transaction, so it is written exactly when the change it
records is, and never for a change that was rolled back.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from newsletter.access.keys import KeyHolder
from newsletter.access.models import AuditEntry


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry: `actor` (a user's name, or key_actor's) did `action` to `target`."""
    session.add(
        AuditEntry(
            at=now,
            actor=actor[:100],
            action=action[:64],
            target=target[:320],
            detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        )
    )


def record_now(
    engine: Engine,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry in a transaction of its own: for a change a library function committed."""
    with Session(engine) as session:
        record(session, actor, action, target, now, detail)
        session.commit()


def subscriber_target(subscriber_id: int) -> str:
    """How the log names a subscriber: by id, never by address (the log keeps no personal
    data, so forgetting someone never has to rewrite it)."""
    return f"subscriber:{subscriber_id}"


def key_actor(holder: KeyHolder) -> str:
    """How the audit log names an API key: `key:` and its public prefix."""
    return f"key:{holder.prefix}"


def recent(engine: Engine, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """Up to `limit` entries, newest first, older than the entry `before_id` if given."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    with Session(engine) as session:
        return list(session.exec(query))
