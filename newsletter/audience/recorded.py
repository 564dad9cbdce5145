"""A send's audience as its mailing records it: the parsed segment, as JSON-ready data.

    target_data(target)      {"text": ..., "zone": ..., "segment": {"test": "All", ...}}
    target_from_data(data)   the same Target again, or ValueError

The segment is recorded as parsed, not as its text: a segment named in the configuration may
change after the send started, and a topic (`--tag`) need not be a word the parser reads. What
queues the rest of an interrupted send (`send --resume`) reads it back.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from newsletter.audience.segments import COLUMNS, MAX_DEPTH, TESTS, Column, Segment
from newsletter.audience.targets import Target
from newsletter.timezones import is_time_zone

_TESTS: dict[str, type[Segment]] = {test.__name__: test for test in TESTS}
_DEPTH = 2 * MAX_DEPTH + 2
"""Tests within tests a record may hold: what the parser allows (MAX_DEPTH of parentheses and
`not`, each with its `and` and `or`), and no more, so reading it back never recurses deeply."""


def target_data(target: Target) -> dict[str, Any]:
    """What a mailing records of `target`."""
    return {"text": target.text, "zone": target.zone, "segment": segment_data(target.segment)}


def target_from_data(data: Any) -> Target:
    """The Target `target_data` recorded; ValueError if `data` is not one."""
    if not isinstance(data, dict):
        raise ValueError("a recorded audience is not a JSON object")
    zone = data.get("zone")
    if not isinstance(zone, str) or not is_time_zone(zone):
        raise ValueError(f"a recorded audience's time zone is not one: {str(zone)[:80]}")
    return Target(_text(data.get("text")), segment_from_data(data.get("segment")), zone)


def segment_data(segment: Segment) -> dict[str, Any]:
    """The parsed segment as JSON-ready data: each test by its name, with its fields."""
    data: dict[str, Any] = {"test": type(segment).__name__}
    for field in fields(segment):
        value = getattr(segment, field.name)
        if field.name == "term":
            value = segment_data(value)
        elif field.name == "terms":
            value = [segment_data(term) for term in value]
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


def segment_from_data(data: Any, depth: int = 0) -> Segment:
    """The segment `segment_data` made; ValueError if `data` is not one the parser could
    have made (a column it does not know, an `and` of fewer than two tests, a flag that is
    not true or false, nesting beyond the parser's limit)."""
    name = data.get("test") if isinstance(data, dict) else None
    test = _TESTS.get(name) if isinstance(name, str) else None
    if test is None:
        raise ValueError(f"not a recorded segment test: {str(data)[:80]}")
    if depth > _DEPTH:
        raise ValueError(f"a recorded segment nested deeper than {_DEPTH} tests")
    given: dict[str, Any] = {}
    for field in fields(test):
        value = data.get(field.name)
        if field.name == "term":
            value = segment_from_data(value, depth + 1)
        elif field.name == "terms":
            value = tuple(segment_from_data(term, depth + 1) for term in _list(value))
            if len(value) < 2:
                raise ValueError(f"a recorded {name} of fewer than two tests")
        elif field.name == "day":
            value = date.fromisoformat(_text(value))
        elif field.name == "values":
            value = tuple(_text(item) for item in _list(value))
            if not value:
                raise ValueError("a recorded segment test of no values")
        elif field.name in ("negated", "before"):
            if not isinstance(value, bool):
                raise ValueError(f"a recorded segment's {field.name!r} is not true or false")
        else:
            value = _text(value)
        given[field.name] = value
    if test is Column and given["name"] not in COLUMNS:
        raise ValueError(f"a recorded segment names no column segments test: {given['name']!r}")
    return test(**given)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"a recorded segment: a list expected, not {str(value)[:80]}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a recorded segment: a text expected, not {str(value)[:80]}")
    return value
