"""The processor: a Reading stored with its events and the policy applied, exactly once.

    process          one Reading in one transaction: its inbound_message row (UNIQUE by
                     digest: the same message again changes nothing and says so), one event
                     per notice tied to its delivery (inbound/matching.py), the policy's
                     changes (inbound/policy.py)
    process_source   a pass over a mailbox (inbound/sources.py): each message read, processed,
                     then moved or flagged, never before its outcome is stored

A kill between storing and moving repeats nothing: the message is read again next time, found
by its digest, and moved as its stored outcome says.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from newsletter.characters import one_line
from newsletter.config import Project
from newsletter.db import lock_for_writing
from newsletter.deliver.return_path import return_paths_of
from newsletter.inbound.matching import Match, Matcher
from newsletter.inbound.models import (
    INBOUND_EVENT,
    INBOUND_MESSAGE,
    MAX_DIAGNOSTIC,
    InboundMessage,
)
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.policy import BouncePolicy, apply
from newsletter.inbound.sources import Source
from newsletter.subscribers.addresses import address_hash, address_key
from newsletter.subscribers.tokens import MIN_SECRET_LENGTH, Tokens

log = logging.getLogger(__name__)
BATCH = 100
"""Messages of a pass stored in one transaction (then moved): a kill repeats none of them."""
MAX_NOTICES = 1000
"""Notices stored per message: a report naming more is cut there (and says so)."""
# Kinds that would change a subscriber: unmatched, a human should look at them.
_ACTIONABLE = frozenset({Kind.HARD, Kind.SOFT, Kind.POLICY, Kind.COMPLAINT, Kind.UNSUBSCRIBE})
_DIGEST = re.compile(r"[0-9a-f]{64}")
# Addresses in a server's words: an event keeps none (a forgotten reader leaves no address
# behind; while they are subscribed, the event's subscriber says who it was about).
_ADDRESS = re.compile(r"(?:\"[^\"\n]{0,64}\"|[^\s<>()\[\]\"',;:]+)@[^\s<>()\[\]\"',;:]+")


@dataclass(frozen=True)
class InboundSettings:
    """What processing needs from the configuration: how to match, and the bounce policy."""

    matcher: Matcher
    policy: BouncePolicy

    @classmethod
    def of(cls, project: Project) -> InboundSettings:
        """The settings of `project`: its return paths and tokens (NEWSLETTER_SECRET_KEY),
        its sender's domain (our Message-IDs) and its soft bounce limits."""
        config, secrets = project.config, project.secrets
        secret = secrets.get("NEWSLETTER_SECRET_KEY", "")
        return cls(
            matcher=Matcher(
                return_paths=return_paths_of(config.bounce_address, secrets),
                tokens=Tokens(secret) if len(secret) >= MIN_SECRET_LENGTH else None,
                sender_domain=config.sender_address.rpartition("@")[2],
            ),
            policy=BouncePolicy(config.soft_bounce_limit, timedelta(days=config.soft_bounce_days)),
        )


@dataclass(frozen=True)
class Event:
    """What became of one notice: the delivery it was tied to and what the policy did."""

    notice: Notice
    match: Match
    action: str


@dataclass(frozen=True)
class Processed:
    """The outcome of one Reading; a duplicate's `kept` is the one stored the first time."""

    digest: str
    duplicate: bool = False
    kept: bool = False
    """Left for a human: unreadable, or a notice that would act matched nothing."""
    events: tuple[Event, ...] = ()
    problem: str = ""


def process(
    engine: Engine, reading: Reading, *, settings: InboundSettings, now: datetime
) -> Processed:
    """Store `reading` and apply the policy, in one transaction; a reading whose digest was
    stored before changes nothing (`Processed.duplicate`)."""
    return process_batch(engine, [reading], settings=settings, now=now)[0]


def process_batch(
    engine: Engine, readings: Sequence[Reading], *, settings: InboundSettings, now: datetime
) -> list[Processed]:
    """Store `readings` and apply the policy, all in one transaction (all or none of them);
    each reading whose digest was stored before (or earlier in the batch) changes nothing."""
    digests = [_digest(reading) for reading in readings]
    try:
        with Session(engine) as session:
            lock_for_writing(session.connection())  # SQLite: the write lock, until commit.
            stored = _stored(session, digests)
            results = []
            for reading, digest in zip(readings, digests, strict=True):
                if digest in stored:
                    results.append(stored[digest])
                    continue
                processed = _store(session, reading, digest, settings, now)
                stored[digest] = Processed(digest, True, processed.kept, (), processed.problem)
                results.append(processed)
            session.commit()
            return results
    except IntegrityError:
        # Another process stored one of these digests meanwhile (PostgreSQL: no write lock).
        if len(readings) > 1:
            return [process(engine, one, settings=settings, now=now) for one in readings]
        with Session(engine) as session:
            found = _stored(session, digests)
        if not found:
            raise
        return [found[digests[0]]]


def _digest(reading: Reading) -> str:
    """The reading's digest as stored: a SHA-256 in hex (anything else is hashed to one)."""
    if _DIGEST.fullmatch(reading.digest):
        return reading.digest
    return digest_of(reading.digest.encode("utf-8", "replace"))


def _stored(session: Session, digests: list[str]) -> dict[str, Processed]:
    """The outcomes stored before of those of `digests` that were: duplicates now."""
    found = session.exec(
        select(InboundMessage.digest, InboundMessage.kept, InboundMessage.problem).where(
            col(InboundMessage.digest).in_(set(digests))
        )
    )
    return {
        digest: Processed(digest, duplicate=True, kept=kept, problem=problem)
        for digest, kept, problem in found
    }


# Statements built once: a pass stores thousands of rows.
_INSERT_MESSAGE = insert(INBOUND_MESSAGE).returning(INBOUND_MESSAGE.c.id)
_INSERT_EVENT = insert(INBOUND_EVENT)


def _store(
    session: Session, reading: Reading, digest: str, settings: InboundSettings, now: datetime
) -> Processed:
    """One new reading stored: its message row, one event per notice, the policy applied.

    Rows are written with Core statements on the session's connection (a pass stores
    thousands); the policy's changes go through the registry, in the same transaction.
    """
    connection = session.connection()
    source = _text(reading.source, 500)
    problem = _text(reading.problem, 500)
    notices = reading.notices[:MAX_NOTICES]
    if len(reading.notices) > MAX_NOTICES:
        problem = problem or f"{len(reading.notices)} notices: only the first {MAX_NOTICES} kept"
    kinds = _text(",".join(sorted({notice.kind.value for notice in notices})), 200)
    message_id = connection.execute(
        _INSERT_MESSAGE,
        {"digest": digest, "source": source, "problem": problem, "kept": False,
         "received_at": now, "kinds": kinds},
    ).scalar_one()  # fmt: skip
    events = []
    for notice in notices:
        match = settings.matcher.match(session, notice, authenticated=reading.authenticated)
        why = _text(f"{source}: {notice.status} {notice.diagnostic}".strip(), 500)
        action = "none"
        if match.matched:
            action = apply(
                session, settings.policy, notice.kind, match.subscriber_id, match.delivery_id,
                why=why, now=now,
            )  # fmt: skip
        # Written now: the next notice's soft bounce count sees this one.
        connection.execute(_INSERT_EVENT, _event(message_id, notice, match, action, source, now))
        events.append(Event(notice, match, action))
    kept = bool(problem) or not notices or any(_for_a_human(event) for event in events)
    if kept:
        connection.execute(
            update(INBOUND_MESSAGE).where(INBOUND_MESSAGE.c.id == message_id).values(kept=True)
        )
    return Processed(digest, kept=kept, events=tuple(events), problem=problem)


def _for_a_human(event: Event) -> bool:
    """Whether a notice leaves its message for a human: unknown, or unmatched but actionable."""
    kind = event.notice.kind
    return kind is Kind.UNKNOWN or (kind in _ACTIONABLE and not event.match.matched)


def _event(
    message_id: int, notice: Notice, match: Match, action: str, source: str, now: datetime
) -> dict[str, Any]:
    """The inbound_event row of one notice: the recipient only as its suppression hash."""
    recipient = _text(notice.recipient, 320).strip("<> ")
    return {
        "message_id": message_id,
        "kind": notice.kind.value,
        "delivery_id": match.delivery_id,
        "mailing_id": match.mailing_id,
        "subscriber_id": match.subscriber_id,
        "recipient_hash": address_hash(address_key(recipient)) if recipient else "",
        "status": _text(notice.status, 16),
        "diagnostic": _text(_ADDRESS.sub("<address>", notice.diagnostic), MAX_DIAGNOSTIC),
        "matched_by": match.matched_by,
        "reason": _text(match.reason, 200),
        "action": action,
        "source": source,
        "at": now,
    }


def _text(value: str, length: int) -> str:
    """`value` as stored: one line, valid UTF-8 (no lone surrogates), at most `length`."""
    line = one_line(value).encode("utf-8", "replace").decode("utf-8")
    return " ".join(line.split())[:length]


Reader = Callable[[bytes, str], Reading]
"""Reads one raw message from a source (its name): a Reading, never an exception."""


def reader() -> Reader:
    """The mail reader of inbound/classify.py (imported here: it pulls in the parsers)."""
    from newsletter.inbound.classify import read_message

    def read(raw: bytes, source: str) -> Reading:
        reading: Reading = read_message(raw, source=source)
        return reading

    return read


@dataclass
class PassReport:
    """What one pass over a source did: messages processed, duplicates, kept, by kind."""

    source: str
    processed: int = 0
    """New messages stored (duplicates not counted)."""
    duplicates: int = 0
    matched: int = 0
    """Notices tied to one of our deliveries."""
    unmatched: int = 0
    kept: int = 0
    """Messages left for a human (flagged, not moved)."""
    failed: int = 0
    """Messages that could not be stored (logged, left for a human)."""
    kinds: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)


def process_source(
    engine: Engine,
    source: Source,
    *,
    settings: InboundSettings,
    now: datetime | Callable[[], datetime],
    limit: int | None = None,
    read: Reader | None = None,
    batch: int = BATCH,
) -> PassReport:
    """One pass over `source`: each message read (by `read`, else inbound/classify.py),
    processed and then moved (or flagged for a human); a message that cannot be processed is
    logged and kept, and the pass goes on. At most `limit` messages.

    Messages are stored `batch` at a time, in one transaction, and moved once it is committed:
    a kill loses the batch's transaction, never a message, and leaves the messages in place.
    """
    read = read or reader()
    report = PassReport(source.name)
    pending: list[tuple[str, Reading]] = []
    for count, (key, raw) in enumerate(source.messages()):
        if limit is not None and count >= limit:
            break
        pending.append((key, _read(read, raw, key, source.name)))
        if len(pending) >= batch:
            _store_and_finish(engine, source, pending, settings, now, report)
            pending = []
    if pending:
        _store_and_finish(engine, source, pending, settings, now, report)
    return report


def _read(read: Reader, raw: bytes, key: str, source: str) -> Reading:
    try:
        return read(raw, source)
    except Exception as error:  # read_message never raises; if it does, keep the message.
        log.exception("%s: %s could not be read", source, key)
        return Reading(digest_of(raw), problem=f"unreadable: {error}", source=source)


def _store_and_finish(
    engine: Engine,
    source: Source,
    pending: list[tuple[str, Reading]],
    settings: InboundSettings,
    now: datetime | Callable[[], datetime],
    report: PassReport,
) -> None:
    """Store a batch, then move or flag each of its messages as its outcome says."""
    moment = now() if callable(now) else now
    try:
        outcomes = process_batch(
            engine, [reading for _, reading in pending], settings=settings, now=moment
        )
    except (DataError, IntegrityError):
        if len(pending) > 1:  # One message the database refuses: find it, store the others.
            for one in pending:
                _store_and_finish(engine, source, [one], settings, now, report)
            return
        log.exception("%s: %s could not be stored", source.name, pending[0][0])
        report.failed += 1
        _finish(source, pending[0][0], kept=True)
        return
    for (key, _), processed in zip(pending, outcomes, strict=True):
        _count(report, processed)
        _finish(source, key, kept=processed.kept)


def _count(report: PassReport, processed: Processed) -> None:
    if processed.duplicate:
        report.duplicates += 1
    else:
        report.processed += 1
    report.kept += processed.kept
    for event in processed.events:
        report.kinds[event.notice.kind.value] += 1
        report.actions[event.action] += 1
        if event.match.matched:
            report.matched += 1
        else:
            report.unmatched += 1


def _finish(source: Source, key: str, *, kept: bool) -> None:
    """Move or flag the message; one that is gone (another pass took it) is logged."""
    try:
        source.finish(key, kept)
    except (OSError, KeyError) as error:
        log.warning(
            "%s: %s could not be %s: %s", source.name, key, "flagged" if kept else "moved", error
        )
