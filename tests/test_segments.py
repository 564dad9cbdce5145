"""Segments: the language parsed (mistakes named by position), and each segment compiled to one
SQL condition that selects exactly the subscribers a plain Python reading of it selects, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from newsletter.audience.compile import segment_condition
from newsletter.audience.segments import (
    All,
    Any_,
    Attribute,
    Column,
    HasAttribute,
    Not,
    SegmentError,
    Subscribed,
    Topic,
    parse_segment,
)
from newsletter.db import converter, insert_many
from newsletter.subscribers.models import SUBSCRIBER, SUBSCRIBER_TAG, TAG

from .test_postgres import cluster, database, either_engine  # noqa: F401 - the throwaway cluster

ZONE = "Europe/Berlin"
EXAMPLE = '(ai or research) and not locale = "ar" and company = "ACME"'


def test_the_example_of_the_issue_parses_to_its_tree() -> None:
    assert parse_segment(EXAMPLE) == All(
        (
            Any_((Topic("ai"), Topic("research"))),
            Not(Column("locale", ("ar",))),
            Attribute("company", ("ACME",)),
        )
    )


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("weekly", Topic("weekly")),
        ('topic = "not"', Topic("not")),
        ("a or b and c", Any_((Topic("a"), All((Topic("b"), Topic("c")))))),
        ("not not a", Not(Not(Topic("a")))),
        ('status != "active"', Column("status", ("active",), negated=True)),
        ('timezone in ["Europe/Berlin", "UTC"]', Column("timezone", ("Europe/Berlin", "UTC"))),
        ('plan in ["pro", "team"]', Attribute("plan", ("pro", "team"))),
        ('company = "A \\"B\\" \\\\ C"', Attribute("company", ('A "B" \\ C',))),
        ("exists country", HasAttribute("country")),
        ("subscribed before 2026-01-31", Subscribed(True, date(2026, 1, 31))),
        ('subscribed after "2026-02-01"', Subscribed(False, date(2026, 2, 1))),
        ("ai-news and ml.papers", All((Topic("ai-news"), Topic("ml.papers")))),
        ("研究 or 人工智能", Any_((Topic("研究"), Topic("人工智能")))),
    ],
    ids=[
        "topic", "odd-topic", "precedence", "double-not", "column-ne", "column-in",
        "attribute-in", "escapes", "exists", "before", "after-quoted", "punctuation", "cjk",
    ],
)  # fmt: skip
def test_each_form_of_test_parses(text: str, parsed: Any) -> None:
    assert parse_segment(text) == parsed


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        ("", 1, "the segment is empty"),
        ("ai and", 7, "expected a test, found the end"),
        ("(ai or research", 16, "a `(` that is not closed"),
        ("ai research", 4, "unexpected `research`"),
        ('company = ACME', 11, "expected a quoted value, found `ACME`"),
        ('company = "ACME', 11, "a string that is not closed"),
        ("company ~ 'x'", 9, "unexpected '~'"),
        ('locale "ar"', 8, "expected `=`, `!=` or `in` after locale"),
        ('plan in ["pro" "team"]', 16, "expected `]`, found `\"team\"`"),
        ("subscribed since 2026-01-01", 12, "expected `before` or `after`"),
        ("subscribed after 2026-02-30", 18, "expected a date (YYYY-MM-DD)"),
        ("exists and", 8, "expected an attribute's name"),
        ("clicked in last 90 days", 1, "`clicked` tests are not available yet"),
        ("ai or )", 7, "expected a test, found `)`"),
        ("and", 1, "`and` cannot start a test"),
    ],
    ids=[
        "empty", "dangling-and", "unclosed-paren", "missing-operator", "unquoted",
        "unclosed-string", "bad-character", "column-without-operator", "list-without-comma",
        "bad-when", "bad-date", "exists-keyword", "reserved-clicked", "stray-paren", "keyword",
    ],
)  # fmt: skip
def test_a_mistake_names_its_position_and_the_fix(text: str, position: int, problem: str) -> None:
    with pytest.raises(SegmentError) as caught:
        parse_segment(text)
    assert caught.value.message.startswith(f"segment {text!r}: at {position}: {problem}"), (
        caught.value.message
    )
    assert caught.value.hint


def test_deep_nesting_and_huge_segments_are_refused_not_recursed() -> None:
    with pytest.raises(SegmentError, match="nested more than 50 deep"):
        parse_segment("(" * 200 + "a" + ")" * 200)
    with pytest.raises(SegmentError, match="nested more than 50 deep"):
        parse_segment("not " * 200 + "a")
    with pytest.raises(SegmentError, match="longer than 2000 characters"):
        parse_segment(" or ".join(["a"] * 1000))


# -- Compiled to SQL: the same set as a plain reading ---------------------------------------------

TOPICS = ("ai", "research", "weekly")
LOCALES = ("en", "de", "ar", "zh_Hans")
COMPANIES = ("ACME", "Initech", None)
PLANS = ("pro", "team", "free", None)
START = datetime(2025, 6, 1, tzinfo=UTC)


@functools.cache
def people(count: int) -> list[dict[str, Any]]:
    """`count` subscribers with random topics, locales, attributes and confirmation times (the
    same on every call: made once per process, 100,000 of them take a second; not to be changed)."""
    chance = random.Random(15)
    made = []
    for number in range(count):
        attributes = {
            name: value
            for name, value in (
                ("company", chance.choice(COMPANIES)),
                ("plan", chance.choice(PLANS)),
                ("country", chance.choice(("DE", None))),
            )
            if value is not None
        }
        made.append(
            {
                "id": number + 1,
                "topics": {topic for topic in TOPICS if chance.random() < 0.4},
                "locale": chance.choice(LOCALES),
                "timezone": chance.choice(("Europe/Berlin", "UTC")),
                "status": chance.choice(("active", "active", "unsubscribed")),
                "attributes": attributes,
                "confirmed_at": START + timedelta(hours=chance.randrange(24 * 400)),
            }
        )
    return made


def _day_start(day: date) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.combine(day, datetime.min.time(), ZoneInfo(ZONE))


# Each segment with its plain reading over one subscriber (a dict of people()).
CASES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    (EXAMPLE, lambda p: bool(p["topics"] & {"ai", "research"}) and p["locale"] != "ar"
        and p["attributes"].get("company") == "ACME"),
    ('company != "ACME"', lambda p: p["attributes"].get("company") != "ACME"),
    ('not company = "ACME"', lambda p: p["attributes"].get("company") != "ACME"),
    ('plan in ["pro", "team"] or not exists plan', lambda p: p["attributes"].get("plan")
        in ("pro", "team", None)),
    ('weekly and status = "active" and timezone = "UTC"', lambda p: "weekly" in p["topics"]
        and p["status"] == "active" and p["timezone"] == "UTC"),
    ('locale in ["de", "zh_Hans"] and not (ai or weekly)', lambda p: p["locale"]
        in ("de", "zh_Hans") and not p["topics"] & {"ai", "weekly"}),
    ("subscribed before 2026-01-01", lambda p: p["confirmed_at"] < _day_start(date(2026, 1, 1))),
    ("subscribed after 2026-01-01 and exists country", lambda p: p["confirmed_at"]
        >= _day_start(date(2026, 1, 2)) and "country" in p["attributes"]),
    ('topic = "no such topic"', lambda p: False),
]  # fmt: skip


COLUMNS = (
    "id", "email", "email_key", "name", "locale", "timezone", "status", "attributes",
    "confirmed_at", "created_at", "updated_at", "consent_method", "consent_source",
)  # fmt: skip


def fill(engine: Engine, made: list[dict[str, Any]]) -> None:
    """The subscribers of people() and their topics, written with the project's bulk insert."""
    when = converter(SUBSCRIBER.c.created_at.type, engine.dialect)
    attributes = converter(SUBSCRIBER.c.attributes.type, engine.dialect)
    start = when(START)
    rows = [
        (
            p["id"],
            f"r{p['id']}@example.org",
            f"r{p['id']}@example.org",
            "",
            p["locale"],
            p["timezone"],
            p["status"],
            attributes(p["attributes"]),
            when(p["confirmed_at"]),
            start,
            start,
            "",
            "",
        )
        for p in made
    ]
    tagged = [(p["id"], TOPICS.index(topic) + 1) for p in made for topic in sorted(p["topics"])]
    with engine.begin() as connection:
        insert_many(connection, TAG, ("id", "name"), [(n + 1, t) for n, t in enumerate(TOPICS)])
        if engine.dialect.name == "postgresql":  # COPY: 100,000 rows in a second, not ten.
            _copy(connection, "subscriber", COLUMNS, rows)
            _copy(connection, "subscriber_tag", ("subscriber_id", "tag_id"), tagged)
            return
        insert_many(connection, SUBSCRIBER, COLUMNS, rows)
        insert_many(connection, SUBSCRIBER_TAG, ("subscriber_id", "tag_id"), tagged)


def _copy(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    cursor = connection.connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)


@pytest.mark.parametrize(("text", "reading"), CASES, ids=[f"case{n}" for n in range(len(CASES))])
def test_a_segment_selects_exactly_what_it_says(
    engine: Engine, text: str, reading: Callable[[dict[str, Any]], bool]
) -> None:
    made = people(600)
    fill(engine, made)
    query = select(SUBSCRIBER.c.id).where(segment_condition(parse_segment(text), ZONE))
    with engine.connect() as connection:
        selected = set(connection.execute(query).scalars())
    expected = {p["id"] for p in made if reading(p)}
    assert selected == expected
    assert expected or text.startswith("topic"), "a case that selects nobody tests little"


@pytest.mark.slow
def test_the_issues_example_over_100000_subscribers(engine: Engine) -> None:
    made = people(100_000)
    fill(engine, made)
    query = select(SUBSCRIBER.c.id).where(segment_condition(parse_segment(EXAMPLE), ZONE))
    with engine.connect() as connection:
        selected = set(connection.execute(query).scalars())
    expected = {
        p["id"]
        for p in made
        if p["topics"] & {"ai", "research"}
        and p["locale"] != "ar"
        and p["attributes"].get("company") == "ACME"
    }
    assert len(expected) > 10_000 and selected == expected
