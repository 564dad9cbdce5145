"""Checking the rows of a subscriber CSV file: a pure function of the row, no database.

The importer decides what a checked row becomes (suppressed, invalid, merged, written); the
checker only reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from newsletter.locales import match_locale
from newsletter.subscribers.addresses import InvalidAddress, address_hash, normalize_address
from newsletter.subscribers.csv_file import ALIASES, Columns, cell

STATUSES = {"": "active", "active": "active", "subscribed": "active", "pending": "pending"}
SUPPRESSING = ("unsubscribed", "bounced", "complained")
TAG_SEPARATORS = re.compile(r"[,;|]")
MAX_NAME, MAX_TAG = 200, 100
# email-validator's messages, shortened for an import report line ("email: 'bob@' has ...").
ADDRESS_PROBLEMS = {
    "There must be something after the @-sign.": "has nothing after the @-sign",
    "There must be something before the @-sign.": "has nothing before the @-sign",
    "An email address must have an @-sign.": "has no @-sign",
    "The part after the @-sign is not valid. It should have a period.": "has no dot after the @-sign",
    "An email address cannot have two periods in a row.": "has two dots in a row",
    "An email address cannot end with a period.": "ends with a dot",
}


@dataclass(slots=True)
class Record:
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

    def merge(self, later: Record) -> None:
        """Later non-empty values fill or replace; tags are the union; attributes are merged."""
        self.name = later.name or self.name
        self.locale = later.locale or self.locale
        self.timezone = later.timezone or self.timezone
        self.tags.update(later.tags)
        self.attributes.update(later.attributes)
        self.earlier = self.earlier or later.earlier


class Invalid(Exception):
    """A row that cannot be imported; the message names the field and the problem."""


@dataclass(slots=True)
class Checked:
    """A checked row: its record, or the problem; the address hash whenever it was readable."""

    line: int
    digest: str | None
    status: str
    record: Record | None
    problem: str | None


class Checker:
    """Turns rows into records; distinct locales and time zones are checked once each."""

    def __init__(self, columns: Columns, locales: list[str], tags: dict[str, None]) -> None:
        self.columns, self.locales, self.tags = columns, locales, tags
        # Where each field of ALIASES is in a row (None: not in the file), in that order.
        self.at = tuple(columns.index.get(name) for name in ALIASES)
        self.locale_of: dict[str, str | Invalid] = {}
        self.zone_of: dict[str, str | Invalid] = {}
        self.zones: dict[str, str] = {}

    def check(self, line: int, row: list[str]) -> Checked:
        """The row checked. Suppression is decided by the importer, which holds the list."""
        digest, status = None, ""
        try:
            email_at = self.at[0]
            if len(row) != self.columns.count:
                raise Invalid(
                    f"columns: the row has {len(row)} fields, the header has {self.columns.count}"
                )
            raw = row[email_at].strip()  # type: ignore[index]
            if not raw:
                raise Invalid("email: missing")
            try:
                email, key = normalize_address(raw)
            except InvalidAddress as error:
                raise Invalid(address_problem(raw, error)) from None
            status = cell(row, self.at[7]).casefold()
            digest = address_hash(key)
            if status in SUPPRESSING:
                return Checked(line, digest, status, None, None)
            return Checked(line, digest, status, self._record(line, row, email, key, status), None)
        except Invalid as problem:
            return Checked(line, digest, status, None, str(problem))

    def _record(self, line: int, row: list[str], email: str, key: str, status: str) -> Record:
        _, name_at, first_at, last_at, locale_at, zone_at, tags_at, _ = self.at
        if status not in STATUSES:
            raise Invalid(
                f"status: {status!r} is not one of active, pending, {', '.join(SUPPRESSING)}"
            )
        name = cell(row, name_at)
        if not name and (first_at is not None or last_at is not None):
            name = " ".join(filter(None, (cell(row, first_at), cell(row, last_at))))
        if len(name) > MAX_NAME:
            raise Invalid(f"name: longer than {MAX_NAME} characters")
        tags: dict[str, None] = {}
        if listed := cell(row, tags_at):
            tags = dict.fromkeys(
                filter(None, (tag.strip() for tag in TAG_SEPARATORS.split(listed)))
            )
        for tag in tags:
            if len(tag) > MAX_TAG:
                raise Invalid(f"tags: {tag[:20]!r}... is longer than {MAX_TAG} characters")
        tags.update(self.tags)
        attributes = {
            name: value for where, name in self.columns.attributes if (value := row[where].strip())
        }
        locale = self._locale(cell(row, locale_at))
        zone = self._zone(cell(row, zone_at))
        earlier = {
            name: value for where, name in self.columns.earlier if (value := row[where].strip())
        }
        return Record(
            line, email, key, STATUSES[status], name, locale, zone, tags, attributes, earlier
        )

    def _locale(self, value: str) -> str | None:
        """The configured locale `value` means (None if empty); each distinct value is checked once."""
        if not value:
            return None
        found = self.locale_of.get(value)
        if found is None:
            try:
                found = match_locale(value, self.locales)
            except ValueError:
                found = Invalid(f"locale: {value!r} is not a known locale")
            else:
                if found not in self.locales:
                    listed = ", ".join(self.locales)
                    found = Invalid(
                        f"locale: {value!r} is not one of the configured locales ({listed})"
                    )
            self.locale_of[value] = found
        if isinstance(found, Invalid):
            raise Invalid(*found.args)  # A copy: re-raising the cached one grows its traceback.
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
                problem = Invalid(
                    f"timezone: {value!r} is not an IANA time zone (e.g. Europe/Berlin)"
                )
                found = self.zones.get(value.casefold(), problem)
            self.zone_of[value] = found
        if isinstance(found, Invalid):
            raise Invalid(*found.args)  # A copy: re-raising the cached one grows its traceback.
        return found


def address_problem(raw: str, error: InvalidAddress) -> str:
    message = str(error)
    problem = (
        ADDRESS_PROBLEMS.get(message)
        or f"is not valid: {message[:1].lower()}{message[1:].rstrip('.')}"
    )
    return f"email: {raw!r} {problem}"
