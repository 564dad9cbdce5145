"""Requests with an Idempotency-Key: the first is carried out, a retry gets its answer again.

    begin    record the request as in progress, or find the answer it already got
    finish   keep the answer a request got
    abandon  forget a request that failed, so that a retry is carried out afresh

The row is written before the work starts, under a primary key of (API key, Idempotency-Key):
two copies of one request sent at once cannot both start, whichever process gets them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from newsletter.access.models import ApiRequest

MAX_KEY = 200


@dataclass(frozen=True)
class Earlier:
    """What became of an earlier request with the same key: its answer, or 0 while it runs;
    `same` is False when it was another request (method, path or body differ)."""

    status: int
    body: str
    same: bool


def request_digest(method: str, path: str, body: bytes) -> str:
    """What tells two requests apart: their method, path and body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def begin(
    engine: Engine, key_id: int, idempotency_key: str, digest: str, now: datetime
) -> Earlier | None:
    """None when this request is new (it is recorded as in progress); else what became of the
    earlier one with this key."""
    with Session(engine) as session:
        session.add(
            ApiRequest(
                api_key_id=key_id, idempotency_key=idempotency_key, digest=digest, created_at=now
            )
        )
        try:
            session.commit()
            return None
        except IntegrityError:
            session.rollback()
        earlier = session.get(ApiRequest, (key_id, idempotency_key))
        if earlier is None:  # Abandoned meanwhile: the caller may try again.
            return Earlier(0, "", True)
        return Earlier(earlier.status, earlier.body, earlier.digest == digest)


def finish(engine: Engine, key_id: int, idempotency_key: str, status: int, body: str) -> None:
    """Keep the answer the request got, for its retries."""
    with Session(engine) as session:
        session.execute(
            update(ApiRequest)
            .where(
                col(ApiRequest.api_key_id) == key_id,
                col(ApiRequest.idempotency_key) == idempotency_key,
            )
            .values(status=status, body=body)
        )
        session.commit()


def abandon(engine: Engine, key_id: int, idempotency_key: str) -> None:
    """Forget a request that failed: a retry with its key is carried out afresh."""
    with Session(engine) as session:
        session.execute(
            delete(ApiRequest).where(
                col(ApiRequest.api_key_id) == key_id,
                col(ApiRequest.idempotency_key) == idempotency_key,
            )
        )
        session.commit()
