"""Importing subscribers from a CSV file.

One pass over the file inside one transaction: the header is read and mapped to fields before
anything is written; then each row is checked, merged with earlier rows of the same address and
written in batches with bulk statements (one SELECT per batch for the subscribers that already
exist, executemany inserts for the new ones, their tags and their consent events). A bad row is
reported with its line and skipped; a problem with the whole file raises NewsletterError and
leaves the database as it was.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    insert,
    select,
    update,
)
from sqlmodel import SQLModel

from newsletter.db import utcnow
from newsletter.locales import match_locale
from newsletter.subscribers import models
from newsletter.subscribers.addresses import InvalidAddress, address_hash, normalize_address
from newsletter.subscribers.bulk import (
    SUBSCRIBER,
    SUBSCRIBER_TAG,
    Found,
    chunks,
    converter,
    existing_subscribers,
    insert_many,
    lock_for_import,
    new_ids,
    tag_pairs,
)
from newsletter.subscribers.csv_file import (
    ALIASES,
    Columns,
    cell,
    detect_encoding,
    map_columns,
    numbered_rows,
    open_reader,
    undecodable,
)

log = logging.getLogger(__name__)
TAG = SQLModel.metadata.tables[models.Tag.__tablename__]
CONSENT_EVENT = SQLModel.metadata.tables[models.ConsentEvent.__tablename__]
SUPPRESSION = SQLModel.metadata.tables[models.Suppression.__tablename__]

STATUSES = {"": "active", "active": "active", "subscribed": "active", "pending": "pending"}
SUPPRESSING = ("unsubscribed", "bounced", "complained")
TAG_SEPARATORS = re.compile(r"[,;|]")
MAX_NAME, MAX_TAG, MAX_SOURCE = 200, 100, 500
# The columns _create fills, in the order of its rows (the others have no value yet: NULL).
NEW_SUBSCRIBER = (
    "id", "email", "email_key", "name", "locale", "timezone", "status", "attributes",
    "consent_at", "consent_method", "consent_source", "created_at", "updated_at",
)  # fmt: skip
NEW_EVENT = ("subscriber_id", "kind", "at", "method", "source", "details")
# email-validator's messages, shortened for an import report line ("email: 'bob@' has ...").
ADDRESS_PROBLEMS = {
    "There must be something after the @-sign.": "has nothing after the @-sign",
    "There must be something before the @-sign.": "has nothing before the @-sign",
    "An email address must have an @-sign.": "has no @-sign",
    "The part after the @-sign is not valid. It should have a period.": "has no dot after the @-sign",
    "An email address cannot have two periods in a row.": "has two dots in a row",
    "An email address cannot end with a period.": "ends with a dot",
}


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
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    extra_tags = dict.fromkeys(tag.strip() for tag in tags if tag.strip())
    settings = _Settings(
        path.name, list(locales), default_locale, default_timezone, extra_tags, now
    )
    chosen = detect_encoding(path, encoding)
    try:
        with path.open(encoding=chosen, newline="") as stream:
            reader, header = open_reader(stream, path, delimiter)
            columns = map_columns(header, mapping, path)
            with engine.begin() as connection:
                lock_for_import(connection)
                rows = numbered_rows(reader, path)
                report = _Import(connection, columns, settings).run(rows, batch_size, progress)
    except UnicodeDecodeError as error:
        raise undecodable(path, chosen, explicit=encoding is not None) from error
    report.seconds = time.perf_counter() - started
    counts = (report.rows, report.created, report.updated, len(report.invalid), report.seconds)
    log.info("imported %s: %d rows, %d created, %d updated, %d invalid in %.1f s", path, *counts)
    return report


# -- Rows -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Record:
    """One address of the file, with every later row of that address merged into it."""

    line: int
    email: str
    key: str
    status: str
    name: str
    locale: str | None
    timezone: str | None
    tags: dict[str, None]  # An ordered set.
    attributes: dict[str, str]
    earlier: dict[str, str]  # Consent given before (see EARLIER).

    def merge(self, later: _Record) -> None:
        """Later non-empty values fill or replace; tags are the union; attributes are merged."""
        self.name = later.name or self.name
        self.locale = later.locale or self.locale
        self.timezone = later.timezone or self.timezone
        self.tags.update(later.tags)
        self.attributes.update(later.attributes)
        self.earlier = self.earlier or later.earlier


class _Invalid(Exception):
    """A row that cannot be imported; the message names the field and the problem."""


class _Import:
    """One import in progress: the checks' caches, the batch being built, the counts so far."""

    def __init__(self, connection: Connection, columns: Columns, settings: _Settings) -> None:
        self.connection, self.columns, self.settings = connection, columns, settings
        # Where each field of ALIASES is in a row (None: not in the file), in that order.
        self.at = tuple(columns.index.get(name) for name in ALIASES)
        self.report = ImportReport()
        self.batch: dict[str, _Record] = {}
        self.new_suppressions: list[dict[str, Any]] = []
        # Loaded once: each row is checked against these in memory.
        self.suppressed = set(connection.execute(select(SUPPRESSION.c.email_hash)).scalars())
        self.tag_ids = {name: id_ for id_, name in connection.execute(select(TAG.c.id, TAG.c.name))}
        self.locale_of: dict[str, str | _Invalid] = {}
        self.zone_of: dict[str, str | _Invalid] = {}
        self.zones: dict[str, str] = {}
        dialect = connection.dialect
        self.stamp = converter(SUBSCRIBER.c.created_at.type, dialect)(settings.now)
        self.to_json = converter(SUBSCRIBER.c.attributes.type, dialect)
        # Subscriber ids this import has written to or found: a later row of theirs is a duplicate.
        self.seen = bytearray()

    def run(
        self,
        rows: Iterable[tuple[int, list[str]]],
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> ImportReport:
        """Import (line, row) pairs, writing a batch every `batch_size` rows."""
        done = 0
        for line, row in rows:
            self.add(line, row)
            if self.report.rows - done >= batch_size:
                self.flush()
                if progress:
                    progress(self.report.rows - done)
                done = self.report.rows
        self.flush()
        if progress and self.report.rows > done:
            progress(self.report.rows - done)
        return self.report

    def add(self, line: int, row: list[str]) -> None:
        """Check one row, then skip it, suppress its address or merge it into the batch."""
        self.report.rows += 1
        try:
            record = self._record(line, row)
        except _Invalid as problem:
            self.report.invalid.append(InvalidRow(line, str(problem)))
            return
        if record is None:
            self.report.suppressed += 1
        elif (first := self.batch.get(record.key)) is not None:
            first.merge(record)
            self.report.duplicates += 1
        else:
            self.batch[record.key] = record

    def _record(self, line: int, row: list[str]) -> _Record | None:
        """The row as a record; None if its address is suppressed (or the row suppresses it)."""
        email_at, name_at, first_at, last_at, locale_at, zone_at, tags_at, status_at = self.at
        if len(row) != self.columns.count:
            raise _Invalid(
                f"columns: the row has {len(row)} fields, the header has {self.columns.count}"
            )
        raw = row[email_at].strip()  # type: ignore[index]
        if not raw:
            raise _Invalid("email: missing")
        try:
            email, key = normalize_address(raw)
        except InvalidAddress as error:
            raise _Invalid(_address_problem(raw, error)) from None
        status = cell(row, status_at).casefold()
        digest = address_hash(key)
        if status in SUPPRESSING or digest in self.suppressed:
            if digest not in self.suppressed:
                self.suppressed.add(digest)
                self.new_suppressions.append(
                    {"email_hash": digest, "reason": status, "at": self.settings.now}
                )
            return None
        if status not in STATUSES:
            raise _Invalid(
                f"status: {status!r} is not one of active, pending, {', '.join(SUPPRESSING)}"
            )
        name = cell(row, name_at)
        if not name and (first_at is not None or last_at is not None):
            name = " ".join(filter(None, (cell(row, first_at), cell(row, last_at))))
        if len(name) > MAX_NAME:
            raise _Invalid(f"name: longer than {MAX_NAME} characters")
        tags: dict[str, None] = {}
        if listed := cell(row, tags_at):
            tags = dict.fromkeys(
                filter(None, (tag.strip() for tag in TAG_SEPARATORS.split(listed)))
            )
        for tag in tags:
            if len(tag) > MAX_TAG:
                raise _Invalid(f"tags: {tag[:20]!r}... is longer than {MAX_TAG} characters")
        tags.update(self.settings.tags)
        attributes = {
            name: value for where, name in self.columns.attributes if (value := row[where].strip())
        }
        locale = self._locale(cell(row, locale_at))
        zone = self._zone(cell(row, zone_at))
        earlier = {
            name: value for where, name in self.columns.earlier if (value := row[where].strip())
        }
        return _Record(
            line, email, key, STATUSES[status], name, locale, zone, tags, attributes, earlier
        )

    def _locale(self, value: str) -> str | None:
        """The configured locale `value` means (None if empty); each distinct value is checked once."""
        if not value:
            return None
        found = self.locale_of.get(value)
        if found is None:
            try:
                found = match_locale(value, self.settings.locales)
            except ValueError:
                found = _Invalid(f"locale: {value!r} is not a known locale")
            else:
                if found not in self.settings.locales:
                    listed = ", ".join(self.settings.locales)
                    found = _Invalid(
                        f"locale: {value!r} is not one of the configured locales ({listed})"
                    )
            self.locale_of[value] = found
        if isinstance(found, _Invalid):
            raise _Invalid(*found.args)  # A copy: re-raising the cached one grows its traceback.
        return found

    def _zone(self, value: str) -> str | None:
        """The IANA time zone `value` names (None if empty); each distinct value is checked once."""
        if not value:
            return None
        found = self.zone_of.get(value)
        if found is None:
            try:
                found = ZoneInfo(value).key
            except (ZoneInfoNotFoundError, ValueError, OSError):
                # Accept any capitalization (`europe/berlin`), stored the canonical way.
                self.zones = self.zones or {zone.casefold(): zone for zone in available_timezones()}
                problem = _Invalid(
                    f"timezone: {value!r} is not an IANA time zone (e.g. Europe/Berlin)"
                )
                found = self.zones.get(value.casefold(), problem)
            self.zone_of[value] = found
        if isinstance(found, _Invalid):
            raise _Invalid(*found.args)  # A copy: re-raising the cached one grows its traceback.
        return found

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

    def _create(self, records: list[_Record], pairs: list[tuple[int, int]]) -> None:
        """Insert new subscribers with their consent record and consent event; collect tags."""
        settings, tag_ids = self.settings, self.tag_ids
        ids = new_ids(self.connection, len(records))
        # Values in the database's form, converted once per import rather than once per row.
        stamp, to_json, no_json = self.stamp, self.to_json, self.to_json({})
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
        self, existing: dict[str, Found], records: dict[str, _Record], pairs: list[tuple[int, int]]
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
            by_id = SUBSCRIBER.c.id == bindparam("subscriber_id")
            self.connection.execute(update(SUBSCRIBER).where(by_id), changes)
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


def _address_problem(raw: str, error: InvalidAddress) -> str:
    message = str(error)
    problem = (
        ADDRESS_PROBLEMS.get(message)
        or f"is not valid: {message[:1].lower()}{message[1:].rstrip('.')}"
    )
    return f"email: {raw!r} {problem}"
