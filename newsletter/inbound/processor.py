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

from sqlalchemy import Connection, Engine
from sqlalchemy import select as select_core
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col, select

from newsletter.characters import one_line
from newsletter.config import Project
from newsletter.db import converter, insert_many, lock_for_writing
from newsletter.deliver.return_path import return_paths_of
from newsletter.inbound.matching import Deliveries, Match, Matcher
from newsletter.inbound.models import (
    INBOUND_EVENT,
    INBOUND_MESSAGE,
    MAX_DIAGNOSTIC,
    InboundMessage,
)
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.policy import BouncePolicy, PolicyBatch
from newsletter.inbound.sources import Source
from newsletter.subscribers.addresses import address_hash, address_key
from newsletter.subscribers.bulk import chunks
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
            fresh: dict[str, Reading] = {}
            for reading, digest in zip(readings, digests, strict=True):
                if digest not in stored:
                    fresh.setdefault(digest, reading)
            new = _store(session, fresh, settings, now)
            session.commit()
    except IntegrityError:
        # Another process stored one of these digests meanwhile (PostgreSQL: no write lock).
        if len(readings) > 1:
            return [process(engine, one, settings=settings, now=now) for one in readings]
        with Session(engine) as session:
            found = _stored(session, digests)
        if not found:
            raise
        return [found[digests[0]]]
    results = []
    for digest in digests:
        if digest in new:
            # The first of a digest is new; the same message again in the batch, a duplicate.
            processed = new.pop(digest)
            stored[digest] = Processed(digest, True, processed.kept, (), processed.problem)
            results.append(processed)
        else:
            results.append(stored[digest])
    return results


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


def _store(
    session: Session, readings: dict[str, Reading], settings: InboundSettings, now: datetime
) -> dict[str, Processed]:
    """New readings stored (by digest): their message rows, one event per notice, the policy
    applied; every notice matched first, then the policy decided for each in order, then all
    of it written with a few bulk statements (a pass stores thousands of rows)."""
    connection = session.connection()
    notices = {digest: reading.notices[:MAX_NOTICES] for digest, reading in readings.items()}
    deliveries = Deliveries(connection)
    settings.matcher.prefetch(deliveries, (n for some in notices.values() for n in some))
    matches = {
        digest: [
            settings.matcher.match(session, notice, authenticated=reading.authenticated, deliveries=deliveries)
            for notice in notices[digest]
        ]
        for digest, reading in readings.items()
    }  # fmt: skip
    policy = PolicyBatch(connection, settings.policy, now)
    policy.load(
        (notice.kind, match.subscriber_id)
        for digest in readings
        for notice, match in zip(notices[digest], matches[digest], strict=True)
        if match.matched
    )
    outcomes, messages, events = {}, [], []
    stamp = converter(INBOUND_MESSAGE.c.received_at.type, connection.dialect)(now)
    for digest, reading in readings.items():
        source, problem = _text(reading.source, 500), _text(reading.problem, 500)
        if len(reading.notices) > MAX_NOTICES:
            problem = (
                problem or f"{len(reading.notices)} notices: only the first {MAX_NOTICES} kept"
            )
        done = []
        for notice, match in zip(notices[digest], matches[digest], strict=True):
            said = f"{notice.status} {notice.diagnostic}".strip()
            why = _text(f"{source}: {said}" if said else source, 500)
            action = "none"
            if match.matched:
                action = policy.apply(notice.kind, match.subscriber_id, match.delivery_id, why=why)
            done.append(Event(notice, match, action))
            events.append((digest, _event(notice, match, action, source, stamp)))
        kept = bool(problem) or not done or any(_for_a_human(event) for event in done)
        kinds = _text(",".join(sorted({notice.kind.value for notice in notices[digest]})), 200)
        messages.append((digest, source, problem, kept, stamp, kinds))
        outcomes[digest] = Processed(digest, kept=kept, events=tuple(done), problem=problem)
    insert_many(connection, INBOUND_MESSAGE, _MESSAGE, messages)
    ids = _message_ids(connection, list(readings))
    insert_many(connection, INBOUND_EVENT, _EVENT, [(ids[digest], *row) for digest, row in events])
    policy.write()
    return outcomes


_MESSAGE = ("digest", "source", "problem", "kept", "received_at", "kinds")
_EVENT = (
    "message_id", "kind", "delivery_id", "mailing_id", "subscriber_id", "locale",
    "recipient_hash", "status", "diagnostic", "matched_by", "reason", "action", "source", "at",
)  # fmt: skip


def _message_ids(connection: Connection, digests: list[str]) -> dict[str, int]:
    """The ids of the message rows with these digests (just inserted)."""
    ids: dict[str, int] = {}
    for part in chunks(digests):
        found = connection.execute(
            select_core(INBOUND_MESSAGE.c.digest, INBOUND_MESSAGE.c.id).where(
                INBOUND_MESSAGE.c.digest.in_(part)
            )
        )
        ids.update((digest, id_) for digest, id_ in found)
    return ids


def _for_a_human(event: Event) -> bool:
    """Whether a notice leaves its message for a human: unknown, or unmatched but actionable."""
    kind = event.notice.kind
    return kind is Kind.UNKNOWN or (kind in _ACTIONABLE and not event.match.matched)


def _event(
    notice: Notice, match: Match, action: str, source: str, stamp: object
) -> tuple[Any, ...]:
    """The inbound_event row of one notice (after its message id, in _EVENT's order): the
    recipient only as its suppression hash, no address from the server's words."""
    recipient = _text(notice.recipient, 320).strip("<> ")
    return (
        notice.kind.value,
        match.delivery_id,
        match.mailing_id,
        match.subscriber_id,
        match.locale,
        address_hash(address_key(recipient)) if recipient else "",
        _text(notice.status, 16),
        # Cut before the addresses are looked for: a search for `x@` over a long run without
        # one takes time in the square of its length (a 100 KB diagnostic: two minutes).
        _text(_ADDRESS.sub("<address>", notice.diagnostic[: MAX_DIAGNOSTIC * 4]), MAX_DIAGNOSTIC),
        match.matched_by,
        _text(match.reason, 200),
        action,
        source,
        stamp,
    )


def _text(value: str, length: int) -> str:
    """`value` as stored: one line, valid UTF-8 (no lone surrogates), at most `length`."""
    line = one_line(value).encode("utf-8", "replace").decode("utf-8")
    return " ".join(line.split())[:length]


Reader = Callable[[bytes, str], Reading]
"""Reads one raw message from a source (its name): a Reading, never an exception."""


def reader() -> Reader:
    """The mail reader of inbound/classify.py (imported here: it pulls in the parsers)."""
    from newsletter.inbound.classify import read_message

    return lambda raw, source: read_message(raw, source=source)


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

    def summary(self) -> list[str]:
        """The pass in words, for `inbound process` and the log of `newsletter run`."""
        lines = [
            f"{self.source}: {self.processed} processed, {self.duplicates} duplicates "
            f"(processed before), {self.kept} kept for a human"
            + (f", {self.failed} could not be stored (see the log)" if self.failed else "")
        ]
        if self.kinds:
            kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.kinds.items()))
            lines.append(f"notices: {self.matched} matched, {self.unmatched} unmatched; {kinds}")
            done = {k: v for k, v in self.actions.items() if k != "none"}
            if done:
                lines.append("done: " + ", ".join(f"{k} {v}" for k, v in sorted(done.items())))
        return lines


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
