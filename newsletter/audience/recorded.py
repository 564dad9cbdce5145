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

from newsletter.audience.segments import (
    All,
    Any_,
    Attribute,
    Column,
    HasAttribute,
    Not,
    Segment,
    Subscribed,
    Topic,
)
from newsletter.audience.targets import Target

_TESTS: dict[str, type[Segment]] = {
    test.__name__: test
    for test in (Topic, Column, Attribute, HasAttribute, Subscribed, Not, All, Any_)
}


def target_data(target: Target) -> dict[str, Any]:
    """What a mailing records of `target`."""
    return {"text": target.text, "zone": target.zone, "segment": segment_data(target.segment)}


def target_from_data(data: Any) -> Target:
    """The Target `target_data` recorded; ValueError if `data` is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError("not a recorded audience")
    if not isinstance(data.get("zone"), str):
        raise ValueError("a recorded audience without its time zone")
    return Target(data["text"], segment_from_data(data.get("segment")), data["zone"])


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


def segment_from_data(data: Any) -> Segment:
    """The segment `segment_data` made; ValueError if `data` is not one."""
    test = _TESTS.get(data.get("test", "")) if isinstance(data, dict) else None
    if test is None:
        raise ValueError(f"not a recorded segment test: {str(data)[:80]}")
    given: dict[str, Any] = {}
    for field in fields(test):
        value = data.get(field.name)
        if field.name == "term":
            value = segment_from_data(value)
        elif field.name == "terms":
            value = tuple(segment_from_data(term) for term in _list(value))
        elif field.name == "day":
            value = date.fromisoformat(_text(value))
        elif field.name == "values":
            value = tuple(_text(item) for item in _list(value))
        elif field.name in ("negated", "before"):
            value = value is True
        else:
            value = _text(value)
        given[field.name] = value
    return test(**given)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"a recorded segment: a list expected, not {str(value)[:80]}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a recorded segment: a text expected, not {str(value)[:80]}")
    return value
