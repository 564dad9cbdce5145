"""The edit form of a subscriber's dashboard page: what it shows (the stored values, or those
just posted with the one refused), and the Changes a post asks for.

Attributes are one row each (a name and a value) plus an empty row for a new one; a row whose
value is emptied is removed. Values are stored as text, as a CSV import stores them, but one
left as it was keeps what it was (a number the API stored stays a number).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import zip_longest
from typing import Any

from newsletter.characters import visible
from newsletter.subscribers import registry
from newsletter.subscribers.changes import Changes
from newsletter.subscribers.registry import InvalidProfile


@dataclass(frozen=True)
class AttributeRow:
    """One attribute of the form: its name and its value as text; `invalid` when refused."""

    key: str
    value: str
    invalid: bool = False

    @property
    def multiline(self) -> bool:
        """Whether the value needs a text area (an input field would drop its line breaks)."""
        return "\n" in self.value


@dataclass(frozen=True)
class EditForm:
    """The form's values; `field` names the one refused and `problem` says why."""

    name: str
    locale: str
    timezone: str
    tags: tuple[str, ...]
    rows: tuple[AttributeRow, ...]
    field: str = ""
    problem: str = ""
    hint: str = ""
    wanted_attributes: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def all_rows(self) -> tuple[AttributeRow, ...]:
        """The rows and, unless a row was refused, an empty one for a new attribute."""
        new = () if any(row.invalid for row in self.rows) else (AttributeRow("", ""),)
        return (*self.rows, *new)

    def changes(self, kept_tags: Sequence[str]) -> Changes:
        """What the form asks for: its topics with `kept_tags` (those no topic is) kept."""
        return Changes(
            name=self.name,
            locale=self.locale,
            timezone=self.timezone,
            tags=sorted({*self.tags, *kept_tags}),
            attributes=self.wanted_attributes,
        )

    def refused(self, error: InvalidProfile) -> EditForm:
        """The form with `error` shown at its field."""
        # What was posted goes back to be corrected, a forbidden character shown as U+FFFD.
        rows = tuple(
            replace(row, key=visible(row.key), value=visible(row.value, multiline=True))
            for row in self.rows
        )
        return replace(
            self, name=visible(self.name), timezone=visible(self.timezone), rows=rows,
            field=error.field, problem=error.problem, hint=error.hint or "",
        )  # fmt: skip


def stored_form(
    name: str, locale: str, timezone: str, tags: Sequence[str], attributes: Mapping[str, Any]
) -> EditForm:
    """The form filled with what is stored."""
    rows = tuple(AttributeRow(key, shown(value)) for key, value in attributes.items())
    return EditForm(name, locale, timezone, tuple(tags), rows)


def posted_form(
    name: str,
    locale: str,
    timezone: str,
    tags: Sequence[str],
    keys: Sequence[str],
    values: Sequence[str],
    *,
    topics: Sequence[str],
    stored: Mapping[str, Any],
) -> EditForm:
    """The form as posted, with the attributes it asks for; refused at the first tag that is
    no topic or attribute row that cannot be stored (a value without a name, a name twice)."""
    rows = tuple(
        row
        for key, value in zip_longest(keys, values, fillvalue="")
        if (row := AttributeRow(key.strip(), _normal(value))).key or row.value
    )
    form = EditForm(name, locale, timezone.strip(), tuple(tags), rows)
    for tag in tags:
        if tag not in topics:
            problem = f"{tag!r} is not one of the topics"
            return form.refused(InvalidProfile("tags", problem, "choose topics from the list"))
    wanted: dict[str, Any] = {}
    for at, row in enumerate(rows):
        try:
            if not row.key:
                raise InvalidProfile("attributes", "a value without a name", "name it")
            if row.value:
                wanted[_checked(row.key, wanted)] = _value(row, stored)
        except InvalidProfile as error:
            marked = (*rows[:at], replace(row, invalid=True), *rows[at + 1 :])
            return replace(form, rows=marked).refused(error)
    return replace(form, wanted_attributes=wanted)


def shown(value: Any) -> str:
    """An attribute value as the form shows it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _checked(key: str, wanted: Mapping[str, Any]) -> str:
    """`key`, if the attributes do not have it yet and it is a name an import would take."""
    if key in wanted:
        raise InvalidProfile("attributes", f"{key!r} twice", "give each attribute one row")
    registry.check_attributes({key: ""})
    return key


def _value(row: AttributeRow, stored: Mapping[str, Any]) -> Any:
    """The row's value: the stored one if the row shows it unchanged, else the text (checked)."""
    if row.key in stored and _normal(shown(stored[row.key])) == row.value:
        return stored[row.key]
    registry.check_attributes({row.key: row.value})
    return row.value


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()
