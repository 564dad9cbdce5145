"""Importing subscribers from a CSV file.

One pass over the file inside one transaction: the header is read and mapped to fields before
anything is written; then each row is checked, merged with earlier rows of the same address and
written in batches with bulk statements (one SELECT per batch for the subscribers that already
exist, bulk inserts for the new ones, their tags and their consent events: db.insert_many). On
PostgreSQL the next rows are checked by a thread while the server writes a batch (read_ahead.py).
A bad row is reported with its line and skipped; a problem with the whole file raises
NewsletterError and leaves the database as it was.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    insert,
    select,
)

from newsletter.characters import forbidden_character
from newsletter.db import converter, insert_many, lock_for_writing, refresh_statistics, utcnow
from newsletter.errors import NewsletterError, readable
from newsletter.subscribers.addresses import address_hashes
from newsletter.subscribers.bulk import (
    Found,
    chunks,
    existing_subscribers,
    new_ids,
    tag_pairs,
    update_subscribers,
)
from newsletter.subscribers.csv_file import (
    Columns,
    detect_encoding,
    map_columns,
    numbered_rows,
    open_reader,
    undecodable,
)
from newsletter.subscribers.csv_rows import SUPPRESSING, Checker, Record, Rejected
from newsletter.subscribers.models import (
    CONSENT_EVENT,
    SUBSCRIBER,
    SUBSCRIBER_TAG,
    SUPPRESSION,
    TAG,
)
from newsletter.subscribers.read_ahead import read_ahead

log = logging.getLogger(__name__)

MAX_SOURCE = 500
# The columns _create fills, in the order of its rows (the others have no value yet: NULL).
NEW_SUBSCRIBER = (
    "id", "email", "email_key", "name", "locale", "timezone", "status", "attributes",
    "consent_at", "consent_method", "consent_source", "created_at", "updated_at",
)  # fmt: skip
NEW_EVENT = ("subscriber_id", "kind", "at", "method", "source", "details")


@dataclass
class InvalidRow:
    """A row that was skipped, and why."""

    line: int
    """The physical line in the file (the header is line 1)."""
    reason: str
    """One short sentence naming the field and the problem."""


@dataclass
class ImportReport:
    """What an import did: each data row is counted in exactly one of the counts or `invalid`."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    """Rows merged into an earlier row of the same file."""
    suppressed: int = 0
    """Rows skipped because the address is suppressed (or was unsubscribed in the file)."""
    invalid: list[InvalidRow] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Settings:
    source: str  # The file name, for consent records: "<source>:<line>".
    locales: list[str]
    default_locale: str
    default_timezone: str
    tags: dict[str, None]  # Given to every imported subscriber; an ordered set.
    now: datetime


def import_csv(
    engine: Engine,
    path: Path,
    *,
    locales: Sequence[str],
    default_locale: str,
    default_timezone: str,
    encoding: str | None = None,
    delimiter: str | None = None,
    mapping: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 5000,
) -> ImportReport:
    """Import the subscribers of a CSV file in one transaction; the report counts every row."""
    started = time.perf_counter()
    settings = _settings(readable(path.name), locales, default_locale, default_timezone, tags, now)
    chosen = detect_encoding(path, encoding)
    try:
        with path.open(encoding=chosen, newline="") as stream:
            reader, header = open_reader(stream, path, delimiter)
            columns = map_columns(header, mapping, path)
            report = _import(
                engine, columns, numbered_rows(reader, path), settings, batch_size, progress
            )
    except UnicodeDecodeError as error:
        raise undecodable(path, chosen, explicit=encoding is not None) from error
    report.seconds = time.perf_counter() - started
    counts = (report.rows, report.created, report.updated, len(report.invalid), report.seconds)
    log.info("imported %s: %d rows, %d created, %d updated, %d invalid in %.1f s", path, *counts)
    return report


def import_rows(
    engine: Engine,
    header: list[str],
    rows: Iterable[tuple[int, list[str]]],
    *,
    source: str,
    locales: Sequence[str],
    default_locale: str,
    default_timezone: str,
    tags: Sequence[str] = (),
    now: datetime | None = None,
) -> ImportReport:
    """Import rows given as a header and (number, cells) pairs, as a CSV file's would be (the
    API's bulk import); `source` names them in consent records (`source:number`)."""
    started = time.perf_counter()
    settings = _settings(source, locales, default_locale, default_timezone, tags, now)
    columns = map_columns(header, None, Path(source))
    report = _import(engine, columns, rows, settings, 5000, None)
    report.seconds = time.perf_counter() - started
    return report


def _settings(
    source: str,
    locales: Sequence[str],
    default_locale: str,
    default_timezone: str,
    tags: Sequence[str],
    now: datetime | None,
) -> _Settings:
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    extra_tags = dict.fromkeys(tag.strip() for tag in tags if tag.strip())
    for tag in extra_tags:
        if problem := forbidden_character(tag):
            raise NewsletterError(f"--tag {tag!r} {problem}", hint="give the tag without it")
    return _Settings(source, list(locales), default_locale, default_timezone, extra_tags, now)


def _import(
    engine: Engine,
    columns: Columns,
    rows: Iterable[tuple[int, list[str]]],
    settings: _Settings,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    """Check and import numbered rows in one transaction."""
    checker = Checker(columns, settings.locales, settings.tags)
    checked: Generator[Record | Rejected, None, None] = (
        checker.check(line, row) for line, row in rows
    )
    if engine.dialect.name == "postgresql":
        # The rows are read and checked by a thread while PostgreSQL's server writes the batch
        # before them. (SQLite writes in this process, with the GIL for most of it: a thread
        # would only take turns with it.)
        checked = read_ahead(checked, batch_size)
    with closing(checked), engine.begin() as connection:
        lock_for_writing(connection)
        report = _Import(connection, columns, settings).run(checked, batch_size, progress)
        refresh_statistics(
            connection, report.created + report.updated, "subscriber", "consent_event",
            "subscriber_tag",
        )  # fmt: skip
        return report


# -- Rows -----------------------------------------------------------------------------------


class _Import:
    """One import in progress: the checks' caches, the batch being built, the counts so far."""

    def __init__(self, connection: Connection, columns: Columns, settings: _Settings) -> None:
        self.connection, self.columns, self.settings = connection, columns, settings
        self.report = ImportReport()
        self.batch: dict[str, Record] = {}
        self.new_suppressions: list[dict[str, Any]] = []
        # Loaded once: each row is checked against these in memory.
        self.suppressed = set(connection.execute(select(SUPPRESSION.c.email_hash)).scalars())
        self.tag_ids = {name: id_ for id_, name in connection.execute(select(TAG.c.id, TAG.c.name))}
        dialect = connection.dialect
        self.stamp = converter(SUBSCRIBER.c.created_at.type, dialect)(settings.now)
        # Subscriber ids this import has written to or found: a later row of theirs is a duplicate.
        self.seen = bytearray()

    def run(
        self,
        rows: Iterable[Record | Rejected],
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> ImportReport:
        """Import checked rows, writing a batch every `batch_size` rows."""
        done = 0
        for checked in rows:
            self.add(checked)
            if self.report.rows - done >= batch_size:
                self.flush()
                if progress:
                    progress(self.report.rows - done)
                done = self.report.rows
        self.flush()
        if progress and self.report.rows > done:
            progress(self.report.rows - done)
        return self.report

    def add(self, checked: Record | Rejected) -> None:
        """Count one checked row, then suppress its address, skip it or merge it into the batch."""
        self.report.rows += 1
        digest = checked.digest
        if isinstance(checked, Record) and not checked.key.isascii():
            # Listed under the A-label spelling of its domain (see address_hashes).
            digest = next((d for d in address_hashes(checked.key) if d in self.suppressed), digest)
        if digest is not None and (checked.status in SUPPRESSING or digest in self.suppressed):
            # A suppressed address is skipped whatever else the row says, even if it is invalid.
            if digest not in self.suppressed:
                self.suppressed.add(digest)
                self.new_suppressions.append(
                    {"email_hash": digest, "reason": checked.status, "at": self.settings.now}
                )
            self.report.suppressed += 1
        elif isinstance(checked, Rejected):
            self.report.invalid.append(InvalidRow(checked.line, checked.problem or "invalid"))
        elif (first := self.batch.get(checked.key)) is not None:
            first.merge(checked)
            self.report.duplicates += 1
        else:
            self.batch[checked.key] = checked

    # -- Writing a batch --------------------------------------------------------------------

    def flush(self) -> None:
        """Write the batch: suppressions, new subscribers with tags and consent, merges."""
        if self.new_suppressions:
            self.connection.execute(insert(SUPPRESSION), self.new_suppressions)
            self.new_suppressions = []
        if not self.batch:
            return
        records, self.batch = self.batch, {}
        existing = existing_subscribers(self.connection, list(records))
        self._add_tags({tag for record in records.values() for tag in record.tags})
        new = [record for key, record in records.items() if key not in existing]
        pairs: list[tuple[int, int]] = []
        if new:
            self._create(new, pairs)
        if existing:
            self._merge(existing, records, pairs)
        if pairs:
            insert_many(self.connection, SUBSCRIBER_TAG, ("subscriber_id", "tag_id"), pairs)

    def _create(self, records: list[Record], pairs: list[tuple[int, int]]) -> None:
        """Insert new subscribers with their consent record and consent event; collect tags."""
        settings, tag_ids = self.settings, self.tag_ids
        ids = new_ids(self.connection, len(records))
        # Values in the database's form, converted once per import rather than once per row.
        # JSON as text, which both take: SQLite's driver as it is (what SQLAlchemy would make),
        # PostgreSQL's COPY as the input of jsonb (psycopg's Json wrapper called back into
        # Python for each row: a tenth of an import's time).
        stamp, to_json, no_json = self.stamp, json.dumps, "{}"
        subscribers, events = [], []
        for id_, record in zip(ids, records, strict=True):
            source = f"{settings.source}:{record.line}"[:MAX_SOURCE]
            attributes = to_json(record.attributes) if record.attributes else no_json
            locale = record.locale or settings.default_locale
            zone = record.timezone or settings.default_timezone
            row = (id_, record.email, record.key, record.name, locale, zone, record.status)
            subscribers.append((*row, attributes, stamp, "import", source, stamp, stamp))
            details = to_json({"earlier": record.earlier}) if record.earlier else no_json
            events.append((id_, "import", stamp, "import", source, details))
            pairs += [(id_, tag_ids[tag]) for tag in record.tags]
        insert_many(self.connection, SUBSCRIBER, NEW_SUBSCRIBER, subscribers)
        insert_many(self.connection, CONSENT_EVENT, NEW_EVENT, events)
        self._mark(ids)
        self.report.created += len(subscribers)

    def _merge(
        self, existing: dict[str, Found], records: dict[str, Record], pairs: list[tuple[int, int]]
    ) -> None:
        """Merge records into existing subscribers; an import never changes their status."""
        has = tag_pairs(
            self.connection, [row.id for key, row in existing.items() if records[key].tags]
        )
        changes, tag_ids = [], self.tag_ids
        for key, (id_, _, name, locale, zone, attributes) in existing.items():
            record = records[key]
            stored = {"name": name, "locale": locale, "timezone": zone, "attributes": attributes}
            merged = {
                "name": record.name or name,
                "locale": record.locale or locale,
                "timezone": record.timezone or zone,
                "attributes": {**attributes, **record.attributes},
            }
            missing = [tag_ids[tag] for tag in record.tags if (id_, tag_ids[tag]) not in has]
            pairs += [(id_, tag_id) for tag_id in missing]
            changed = bool(missing) or merged != stored
            if changed:
                changes.append({**merged, "updated_at": self.settings.now, "subscriber_id": id_})
            if id_ < len(self.seen) and self.seen[id_]:
                self.report.duplicates += 1
            elif changed:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        if changes:
            update_subscribers(self.connection, changes)
        self._mark(row.id for row in existing.values())

    def _add_tags(self, names: set[str]) -> None:
        """Create the tags that do not exist yet; self.tag_ids then has every name in `names`."""
        missing = sorted(names - self.tag_ids.keys())
        if missing:
            self.connection.execute(insert(TAG), [{"name": name} for name in missing])
            for chunk in chunks(missing):
                query = select(TAG.c.id, TAG.c.name).where(TAG.c.name.in_(chunk))
                self.tag_ids.update({name: id_ for id_, name in self.connection.execute(query)})

    def _mark(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids and (top := max(ids)) >= len(self.seen):
            self.seen.extend(bytes(top + 1 - len(self.seen) + 65536))
        for id_ in ids:
            self.seen[id_] = 1
