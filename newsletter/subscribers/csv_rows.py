"""Checking the rows of a subscriber CSV file: a pure function of the row, no database.

The importer decides what a checked row becomes (suppressed, invalid, merged, written); the
checker only reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter

from newsletter.characters import forbidden_character, has_control
from newsletter.locales import match_locale
from newsletter.subscribers.addresses import InvalidAddress, address_hash, normalize_address
from newsletter.subscribers.csv_file import ALIASES, Columns
from newsletter.subscribers.formulas import restore
from newsletter.timezones import InvalidTimeZone, time_zone

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
    digest: str  # The address hash, as kept on the suppression list.
    status: str
    name: str
    locale: str  # Empty: not given.
    timezone: str  # Empty: not given.
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
class Rejected:
    """A row that is not imported: suppressed (`problem` None) or invalid (`problem` says why).

    `digest` is the address hash whenever the address could be read, so a suppressed address is
    recognized even in a row that is otherwise invalid.
    """

    line: int
    digest: str | None
    status: str
    problem: str | None


class Checker:
    """Turns rows into records; distinct locales and time zones are checked once each."""

    def __init__(self, columns: Columns, locales: list[str], tags: dict[str, None]) -> None:
        self.columns, self.locales, self.tags = columns, locales, tags
        # The fields of ALIASES, in that order, fetched from a row's stripped cells in one call;
        # a field not in the file is read from the empty cell appended after the row's last one.
        self.fields = itemgetter(*(columns.index.get(name, columns.count) for name in ALIASES))
        self.first_last = "first_name" in columns.index or "last_name" in columns.index
        # The columns that reach the database, named as a report names them: no control
        # characters in fields and earlier consent; tabs and line breaks allowed in attributes.
        # (The address has its own checks; the name is checked once its whitespace is spaces.)
        names = ("email", "name", "first_name", "last_name")
        self.single_line = [(at, name) for name, at in columns.index.items() if name not in names]
        self.single_line += [(at, name) for at, name in columns.earlier]
        self.multi_line = list(columns.attributes)
        self.locale_of: dict[str, str | Invalid] = {"": ""}
        self.zone_of: dict[str, str | Invalid] = {"": ""}
        self.zones: dict[str, str] = {}

    def check(self, line: int, row: list[str]) -> Record | Rejected:
        """The row checked. Suppression is decided by the importer, which holds the list."""
        if len(row) != self.columns.count:
            problem = f"columns: the row has {len(row)} fields, the header has {self.columns.count}"
            return Rejected(line, None, "", problem)
        cells = [value.strip() for value in row]
        joined = "".join(cells)
        if "'" in joined:  # Only then can a cell carry the quote an export puts before a formula.
            cells = [restore(cell) for cell in cells]
        cells.append("")
        raw, name, first, last, locale, zone, listed, status = self.fields(cells)
        if not raw:
            return Rejected(line, None, "", "email: missing")
        try:
            email, key = normalize_address(raw)
        except InvalidAddress as error:
            return Rejected(line, None, "", address_problem(raw, error))
        status = status.casefold()
        digest = address_hash(key)
        if status in SUPPRESSING:
            return Rejected(line, digest, status, None)
        try:
            if (control := self._control(joined, cells)) is not None:
                raise Invalid(control)
            if status not in STATUSES:
                raise Invalid(
                    f"status: {status!r} is not one of active, pending, {', '.join(SUPPRESSING)}"
                )
            if not name and self.first_last:
                name = f"{first} {last}" if first and last else first or last
            if has_control(name):
                # A line break (Alt+Enter in a spreadsheet cell) or a tab becomes a space, as in
                # the forms: a name is one line in a To header and a greeting.
                name = " ".join(name.split())
                if control := forbidden_character(name):
                    raise Invalid(f"name: {control}; remove it")
            if len(name) > MAX_NAME:
                raise Invalid(f"name: longer than {MAX_NAME} characters")
            tags = self._tags(listed) if listed else {}
            if self.tags:
                tags.update(self.tags)
            attributes = {name: cells[at] for at, name in self.columns.attributes if cells[at]}
            earlier = {name: cells[at] for at, name in self.columns.earlier if cells[at]}
            return Record(
                line,
                email,
                key,
                digest,
                STATUSES[status],
                name,
                self._locale(locale),
                self._zone(zone),
                tags,
                attributes,
                earlier,
            )
        except Invalid as problem:
            return Rejected(line, digest, status, str(problem))

    def _control(self, joined: str, cells: list[str]) -> str | None:
        """`column: contains a control character ...` for the first cell that holds one, else None
        (one search of the whole row, `joined`, decides for nearly every row)."""
        if not has_control(joined):
            return None
        for multiline, columns in ((False, self.single_line), (True, self.multi_line)):
            for at, name in columns:
                if problem := forbidden_character(cells[at], multiline=multiline):
                    return f"{name}: {problem}; remove it"
        return None

    @staticmethod
    def _tags(listed: str) -> dict[str, None]:
        """The tags a cell lists (`weekly, beta`), in order, each once."""
        tags = dict.fromkeys(filter(None, (tag.strip() for tag in TAG_SEPARATORS.split(listed))))
        for tag in tags:
            if len(tag) > MAX_TAG:
                raise Invalid(f"tags: {tag[:20]!r}... is longer than {MAX_TAG} characters")
        return tags

    def _locale(self, value: str) -> str:
        """The configured locale `value` means ("" if empty); each distinct value is checked once."""
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

    def _zone(self, value: str) -> str:
        """The IANA time zone `value` names ("" if empty); each distinct value is checked once."""
        found = self.zone_of.get(value)
        if found is None:
            try:  # Any capitalization (`europe/berlin`), stored the canonical way.
                found = time_zone(value, "timezone")
            except InvalidTimeZone as error:
                found = Invalid(str(error))
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
