"""Requests with an Idempotency-Key: the first is carried out, a retry gets its answer again.

    begin    record the request as in progress, or find the answer it already got
    finish   keep the answer a request got
    abandon  forget a request that failed, so that a retry is carried out afresh
    settled  the answer of a request in progress, once it has one (a double click waits for it)

The row is written before the work starts, under a primary key of (caller, key): two copies of
one request sent at once cannot both start, whichever process gets them. The API's keys keep
their requests in api_request (the key is the Idempotency-Key header), the dashboard's users
theirs in admin_request (the key is the one-time token of the form): the two Ledgers.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from newsletter.access.models import AdminRequest, ApiRequest

MAX_KEY = 200


@dataclass(frozen=True)
class Ledger:
    """The table that keeps one kind of caller's requests, and its column naming the caller."""

    table: Table
    caller: str


API_KEYS = Ledger(SQLModel.metadata.tables[ApiRequest.__tablename__], "api_key_id")
"""The API's requests, by API key."""
USERS = Ledger(SQLModel.metadata.tables[AdminRequest.__tablename__], "user_id")
"""The dashboard's one-time forms, by user."""


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
    engine: Engine,
    caller_id: int,
    idempotency_key: str,
    digest: str,
    now: datetime,
    *,
    ledger: Ledger = API_KEYS,
) -> Earlier | None:
    """None when this request is new (it is recorded as in progress); else what became of the
    earlier one with this key."""
    row = {
        ledger.caller: caller_id, "idempotency_key": idempotency_key, "digest": digest,
        "status": 0, "body": "", "created_at": now,
    }  # fmt: skip
    try:
        with engine.begin() as connection:
            connection.execute(insert(ledger.table).values(row))
        return None
    except IntegrityError:
        pass
    earlier = _earlier(engine, ledger, caller_id, idempotency_key)
    if earlier is None:  # Abandoned meanwhile: the caller may try again.
        return Earlier(0, "", True)
    return Earlier(earlier.status, earlier.body, earlier.digest == digest)


def finish(
    engine: Engine,
    caller_id: int,
    idempotency_key: str,
    status: int,
    body: str,
    *,
    ledger: Ledger = API_KEYS,
) -> None:
    """Keep the answer the request got, for its retries."""
    table = ledger.table
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c[ledger.caller] == caller_id, table.c.idempotency_key == idempotency_key)
            .values(status=status, body=body)
        )


def abandon(
    engine: Engine, caller_id: int, idempotency_key: str, *, ledger: Ledger = API_KEYS
) -> None:
    """Forget a request that failed: a retry with its key is carried out afresh."""
    table = ledger.table
    with engine.begin() as connection:
        connection.execute(
            delete(table).where(
                table.c[ledger.caller] == caller_id, table.c.idempotency_key == idempotency_key
            )
        )


def settled(
    engine: Engine,
    caller_id: int,
    idempotency_key: str,
    *,
    ledger: Ledger,
    patience: float = 30.0,
    every: float = 0.1,
) -> Earlier | None:
    """The answer of the request with this key once it has one, waiting up to `patience`
    seconds for a request in progress (the first of a double click, still starting its send);
    None if it was abandoned, or is still in progress when patience runs out."""
    deadline = time.monotonic() + patience
    while True:
        found = _earlier(engine, ledger, caller_id, idempotency_key)
        if found is None:
            return None
        if found.status or time.monotonic() >= deadline:
            return Earlier(found.status, found.body, True) if found.status else None
        time.sleep(every)


def _earlier(engine: Engine, ledger: Ledger, caller_id: int, idempotency_key: str) -> _Row | None:
    table = ledger.table
    query = select(table.c.status, table.c.body, table.c.digest).where(
        table.c[ledger.caller] == caller_id, table.c.idempotency_key == idempotency_key
    )
    with engine.connect() as connection:
        found = connection.execute(query).first()
    return _Row(*found) if found is not None else None


@dataclass(frozen=True)
class _Row:
    status: int
    body: str
    digest: str
