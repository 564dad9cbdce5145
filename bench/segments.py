"""Benchmark a send's audience snapshot to a segment against the snapshot of everyone.

    .venv/bin/python bench/segments.py [--subscribers 100000] [--rounds 3] [--database URL]

Makes a database (SQLite in a temporary folder, or the PostgreSQL database of `--database`,
which must be empty) with N generated subscribers: topics (ai 40%, research 40%, weekly 40%),
eight locales, a company attribute (ACME a third), a plan. Then, in the same run, alternating:

- the reference: `enqueue_audience` of a mailing to every active subscriber, the snapshot
  `newsletter send` takes (one delivery row per subscriber, in one transaction);
- ours: the same to the segment `(ai or research) and not locale = "ar" and company = "ACME"`,
  selected by one SQL condition (audience/compile.py).

Each round uses a new mailing, so both insert their deliveries. It prints seconds per snapshot
(median of the rounds), the deliveries each made, and the ratio. Goal (issue 16): the segment's
snapshot within 1.5 times the all-subscribers snapshot.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert  # noqa: E402

from newsletter.audience.segments import parse_segment  # noqa: E402
from newsletter.audience.targets import Target  # noqa: E402
from newsletter.db import converter, create_db_engine, insert_many  # noqa: E402
from newsletter.db_schema import upgrade  # noqa: E402
from newsletter.deliver.audience import audience, enqueue_audience  # noqa: E402
from newsletter.deliver.models import MAILING, MAILING_EDITION, Mailing  # noqa: E402
from newsletter.subscribers.models import SUBSCRIBER, SUBSCRIBER_TAG, TAG  # noqa: E402

SEGMENT = '(ai or research) and not locale = "ar" and company = "ACME"'
LOCALES = ("en", "de", "fr", "es", "pt_BR", "ja", "zh_Hans", "ar")
TOPICS = ("ai", "research", "weekly")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
COLUMNS = (
    "id",
    "email",
    "email_key",
    "name",
    "locale",
    "timezone",
    "status",
    "attributes",
    "confirmed_at",
    "created_at",
    "updated_at",
    "consent_method",
    "consent_source",
)


Joined = Callable[[int], tuple[datetime, datetime | None]]
"""Subscriber number -> (created_at, confirmed_at): when each joined (None: imported)."""


def fill(engine: Engine, count: int, joined: Joined | None = None) -> None:
    """`count` active subscribers with topics and attributes, written in bulk; all added and
    confirmed at NOW unless `joined` says when."""
    chance = random.Random(16)
    when = converter(SUBSCRIBER.c.created_at.type, engine.dialect)
    as_json = converter(SUBSCRIBER.c.attributes.type, engine.dialect)
    stamp = when(NOW)
    rows, tagged = [], []
    for number in range(1, count + 1):
        company = chance.choice(("ACME", "Initech", "Globex"))
        attributes = {"company": company, "plan": chance.choice(("pro", "team", "free"))}
        created = confirmed = stamp
        if joined is not None:
            added, confirmed_at = joined(number)
            created, confirmed = when(added), when(confirmed_at) if confirmed_at else None
        rows.append(
            (
                number,
                f"r{number}@example.org",
                f"r{number}@example.org",
                "",
                LOCALES[number % len(LOCALES)],
                "UTC",
                "active",
                as_json(attributes),
                confirmed,
                created,
                created,
                "import",
                "bench",
            )
        )
        tagged += [(number, n + 1) for n in range(len(TOPICS)) if chance.random() < 0.4]
    with engine.begin() as connection:
        insert_many(connection, TAG, ("id", "name"), [(n + 1, t) for n, t in enumerate(TOPICS)])
        for start in range(0, len(rows), 20_000):
            insert_many(connection, SUBSCRIBER, COLUMNS, rows[start : start + 20_000])
        for start in range(0, len(tagged), 20_000):
            insert_many(
                connection,
                SUBSCRIBER_TAG,
                ("subscriber_id", "tag_id"),
                tagged[start : start + 20_000],
            )


def new_mailing(engine: Engine, name: str) -> Mailing:
    """A mailing with an edition in every locale (rows written directly)."""
    with engine.begin() as connection:
        mailing_id = connection.execute(
            insert(MAILING).values(
                issue=name,
                uid="0f1e2d3c4b5a6978",
                commit="",
                dirty=False,
                tag="",
                created_at=NOW,
            )
        ).inserted_primary_key[0]
        connection.execute(
            insert(MAILING_EDITION),
            [
                {
                    "mailing_id": mailing_id,
                    "locale": locale,
                    "subject": "Bench",
                    "web_url": "https://news.example.org/",
                    "html": "<p>x</p>",
                    "text": "x",
                }
                for locale in LOCALES
            ],
        )
    return Mailing(id=mailing_id, issue=name, uid="0f1e2d3c4b5a6978")


def snapshot(engine: Engine, name: str, to: Target | None) -> tuple[float, int]:
    """Seconds the snapshot of a new mailing took, and the deliveries it made."""
    mailing = new_mailing(engine, name)
    started = time.perf_counter()
    added = enqueue_audience(engine, mailing, default_locale="en", to=to, now=NOW)
    return time.perf_counter() - started, added


def selection(engine: Engine, to: Target | None) -> tuple[float, int]:
    """Seconds the audience query alone took (rows read, nothing written), and its rows."""
    started = time.perf_counter()
    with engine.connect() as connection:
        count = sum(1 for _ in audience(connection, LOCALES, default_locale="en", to=to))
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="", help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'news.db'}"
        engine = create_db_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        fill(engine, args.subscribers)
        print(
            f"{args.subscribers:,} subscribers written in {time.perf_counter() - started:.1f} s"
            f" ({engine.dialect.name})"
        )
        target = Target(SEGMENT, parse_segment(SEGMENT), "UTC")
        everyone: list[float] = []
        segment: list[float] = []
        made = {}
        read: dict[str, list[float]] = {"all": [], "segment": []}
        for round_ in range(args.rounds):
            seconds, made["all"] = snapshot(engine, f"all-{round_}", None)
            everyone.append(seconds)
            seconds, made["segment"] = snapshot(engine, f"segment-{round_}", target)
            segment.append(seconds)
            read["all"].append(selection(engine, None)[0])
            read["segment"].append(selection(engine, target)[0])
        engine.dispose()
    print(
        f"everyone: {statistics.median(everyone):.3f} s for {made['all']:,} deliveries "
        f"(rounds: {', '.join(f'{s:.3f}' for s in everyone)})"
    )
    print(
        f"segment:  {statistics.median(segment):.3f} s for {made['segment']:,} deliveries "
        f"(rounds: {', '.join(f'{s:.3f}' for s in segment)})"
    )
    ratio = statistics.median(segment) / statistics.median(everyone)
    print(f"segment / everyone: {ratio:.2f} (goal: at most 1.5)")
    alone = statistics.median(read["segment"]) / statistics.median(read["all"])
    print(
        f"the query alone (no deliveries written): everyone {statistics.median(read['all']):.3f} s,"
        f" segment {statistics.median(read['segment']):.3f} s, ratio {alone:.2f}"
    )


if __name__ == "__main__":
    main()
