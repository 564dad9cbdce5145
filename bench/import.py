"""Benchmark the CSV subscriber import against a plain bulk insert of the same rows.

    .venv/bin/python bench/import.py [--rows 1000000] [--batch-size 5000] [--database postgresql]

Generates a CSV of realistic subscribers (names in several scripts, eight locales, IANA time
zones, 0-3 tags, a company column for half of them) in a temporary folder, then times, each into
a fresh migrated SQLite file:

- ours: import_csv, which also checks every row, merges duplicates, writes tags and consent
  events, and checks the suppression list (then the same file again: every row unchanged);
- the reference: SQLAlchemy Core `insert(Subscriber.__table__)` executemany of the same rows,
  already parsed into dicts with the same columns, in batches inside one transaction (one
  statement a row, each of which also writes the search index: twice the time it took before
  the index);
- SQLite's floor: the rows the import writes (subscribers, consent events, subscriber tags),
  built beforehand as tuples in the database's form, through the sqlite3 driver alone, in
  INSERT statements of as many rows as the import's (one row each would make every subscriber
  a write of the search index). No import into SQLite can be faster than this on the machine.

With `--database postgresql`, into a throwaway PostgreSQL cluster the bench starts (initdb as
the `postgres` user in a temporary folder, a Unix socket, fsync off), each into a new database:

- ours: import_csv, then the same file again;
- the reference: a bare `COPY` (psycopg's copy, one transaction) of the rows the import writes
  (subscribers, consent events, subscriber tags), built beforehand in the database's form. The
  last line is `ratio ours/COPY` (issue 18's goal: at least 0.5).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cluster import throwaway_cluster  # noqa: E402
from sqlalchemy import Engine, func, insert, select  # noqa: E402

from newsletter.db import SQLITE_ROWS_PER_STATEMENT, converter, create_db_engine  # noqa: E402
from newsletter.db_schema import upgrade  # noqa: E402
from newsletter.subscribers.csv_import import NEW_EVENT, NEW_SUBSCRIBER, import_csv  # noqa: E402
from newsletter.subscribers.models import SUBSCRIBER, TAG, Subscriber  # noqa: E402

LOCALES = ["en", "zh", "ja", "de", "fr", "es", "pt_BR", "ar"]
ZONES = [
    "Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Madrid", "America/New_York",
    "America/Los_Angeles", "America/Sao_Paulo", "America/Mexico_City", "Asia/Shanghai",
    "Asia/Tokyo", "Asia/Kolkata", "Asia/Dubai", "Africa/Cairo", "Australia/Sydney", "UTC",
]  # fmt: skip
FIRST = {
    "en": ["James", "Mary", "Olivia", "Noah", "Zoë", "Liam"],
    "zh": ["伟", "芳", "娜", "秀英", "敏", "静"],
    "ja": ["翔太", "さくら", "陽菜", "蓮", "結衣", "大翔"],
    "de": ["Jürgen", "Käthe", "Lukas", "Sophie", "Björn", "Grete"],
    "fr": ["Chloé", "Hélène", "Théo", "Léa", "François", "Noël"],
    "es": ["José", "María", "Iñigo", "Lucía", "Ángel", "Sofía"],
    "pt_BR": ["João", "Conceição", "Luís", "Ana", "Gonçalo", "Inês"],
    "ar": ["محمد", "فاطمة", "أحمد", "مريم", "علي", "ليلى"],
}
LAST = {
    "en": ["Smith", "O'Brien", "Johnson", "Brown", "Taylor", "Wilson"],
    "zh": ["王", "李", "张", "刘", "陈", "杨"],
    "ja": ["佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤"],
    "de": ["Müller", "Schröder", "Weiß", "Groß", "Schmidt", "Fischer"],
    "fr": ["Lefèvre", "Dubois", "Moreau", "Girard", "Bonnet", "Faure"],
    "es": ["García", "Núñez", "López", "Martínez", "Sánchez", "Pérez"],
    "pt_BR": ["Silva", "Gonçalves", "Araújo", "Souza", "Conceição", "Pereira"],
    "ar": ["الحسن", "العلي", "منصور", "حداد", "خليل", "سعيد"],
}
DOMAINS = ["example.com", "example.org", "mail.example.net", "post.example.de", "example.co.jp"]
TAGS = ["weekly", "beta", "events", "research", "offers", "jobs"]
COMPANIES = ["Acme GmbH", "Initech", "Umbrella Co.", "株式会社サンプル", "Société Exemple"]
HEADER = ["Email", "First Name", "Last Name", "Language", "Time zone", "Tags", "Company"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A CSV of `rows` distinct, valid subscribers."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for n in range(rows):
            locale = rng.choice(LOCALES)
            local = rng.choice(["reader", "j.doe", "Info", "news+list", "a_b"]) + str(n)
            writer.writerow(
                [
                    f"{local}@{rng.choice(DOMAINS)}",
                    rng.choice(FIRST[locale]),
                    rng.choice(LAST[locale]),
                    locale,
                    rng.choice(ZONES),
                    ",".join(rng.sample(TAGS, rng.randint(0, 3))),
                    rng.choice(COMPANIES) if rng.random() < 0.5 else "",
                ]
            )


def parsed(path: Path, now: datetime) -> list[dict[str, Any]]:
    """The file's rows as subscriber dicts with the columns the import writes (not timed)."""
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        return [
            {
                "id": n,
                "email": email,
                "email_key": email.casefold(),
                "name": f"{first} {last}",
                "locale": locale,
                "timezone": zone,
                "status": "active",
                "attributes": {"Company": company} if company else {},
                "consent_at": now,
                "consent_method": "import",
                "consent_source": f"{path.name}:{n + 1}",
                "tags": [tag for tag in tags.split(",") if tag],
                "confirmed_at": None,
                "unsubscribed_at": None,
                "created_at": now,
                "updated_at": now,
            }
            for n, (email, first, last, locale, zone, tags, company) in enumerate(reader, start=1)
        ]


def fresh(folder: Path, name: str) -> Engine:
    """A new SQLite file in `folder`, migrated to the current schema."""
    return migrated(f"sqlite:///{folder / name}")


def migrated(url: str) -> Engine:
    engine = create_db_engine(url)
    upgrade(engine)
    return engine


def ours(
    engine: Engine, source: Path, rows: int, batch_size: int, now: datetime
) -> tuple[float, float]:
    """Seconds of import_csv into `engine`'s fresh database, and of importing the same file
    again."""
    options: dict[str, Any] = {
        "locales": LOCALES,
        "default_locale": "en",
        "default_timezone": "UTC",
    }
    report = import_csv(engine, source, now=now, batch_size=batch_size, **options)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(Subscriber)).scalar_one()
    assert report.created == stored == rows, report
    again = import_csv(engine, source, batch_size=batch_size, **options)
    assert again.unchanged == rows, again
    return report.seconds, again.seconds


def reference(folder: Path, source: Path, batch_size: int, now: datetime) -> float:
    """Seconds of a Core executemany of the rows, parsed beforehand, into a fresh database."""
    rows = parsed(source, now)
    for row in rows:
        del row["tags"]  # Not a subscriber column: the reference writes subscriber rows only.
    engine = fresh(folder, "reference.db")
    table = Subscriber.__table__  # type: ignore[attr-defined]
    start = time.perf_counter()
    with engine.begin() as connection:
        for first in range(0, len(rows), batch_size):
            connection.execute(insert(table), rows[first : first + batch_size])
    return time.perf_counter() - start


Written = list[tuple[tuple[str, ...], str, list[tuple[Any, ...]]]]


def written(source: Path, now: datetime, engine: Engine) -> tuple[dict[str, int], Written]:
    """The tags' ids, and the rows import_csv writes (columns, table, rows), in the database's
    form, built beforehand."""
    stamp = converter(SUBSCRIBER.c.created_at.type, engine.dialect)(now)
    tag_ids = {name: n for n, name in enumerate(TAGS, start=1)}
    subscribers, events, pairs = [], [], []
    for row in parsed(source, now):
        source_line = row["consent_source"]
        attributes = json.dumps(row["attributes"]) if row["attributes"] else "{}"
        values = [row[name] for name in ("id", "email", "email_key", "name", "locale")]
        subscribers.append((*values, row["timezone"], "active", attributes, stamp, "import"))
        subscribers[-1] += (source_line, stamp, stamp)
        events.append((row["id"], "import", stamp, "import", source_line, "{}"))
        pairs += [(row["id"], tag_ids[tag]) for tag in row["tags"]]
    return tag_ids, [
        (NEW_SUBSCRIBER, "subscriber", subscribers),
        (NEW_EVENT, "consent_event", events),
        (("subscriber_id", "tag_id"), "subscriber_tag", pairs),
    ]


def floor(folder: Path, source: Path, batch_size: int, now: datetime) -> float:
    """Seconds of the sqlite3 driver writing the rows import_csv writes, built beforehand."""
    engine = fresh(folder, "floor.db")
    tag_ids, statements = written(source, now, engine)
    engine.dispose()
    connection = sqlite3.connect(folder / "floor.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    connection.executemany(
        "INSERT INTO tag (id, name) VALUES (?, ?)", [(n, t) for t, n in tag_ids.items()]
    )
    most = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    start = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    for columns, table, rows in statements:
        # Many rows to a statement, as insert_many writes them: FTS5 writes the search index
        # at the end of each statement that fires its triggers.
        step = min(SQLITE_ROWS_PER_STATEMENT, most // len(columns))
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        marks = f"({', '.join('?' * len(columns))})"
        for first in range(0, len(rows), step):
            chunk = rows[first : first + step]
            values = [value for row in chunk for value in row]
            connection.execute(head + ", ".join([marks] * len(chunk)), values)
    connection.execute("COMMIT")
    seconds = time.perf_counter() - start
    connection.close()
    return seconds


def bare_copy(engine: Engine, source: Path, now: datetime) -> float:
    """Seconds of psycopg's COPY of the rows import_csv writes, built beforehand, in one
    transaction."""
    tag_ids, statements = written(source, now, engine)
    with engine.begin() as connection:
        connection.execute(insert(TAG), [{"id": n, "name": t} for t, n in tag_ids.items()])
    raw = engine.raw_connection()
    try:
        start = time.perf_counter()
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            for columns, table, rows in statements:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        raw.commit()
        return time.perf_counter() - start
    finally:
        raw.close()


def on_postgresql(source: Path, rows: int, batch_size: int, now: datetime) -> None:
    with throwaway_cluster("ours", "copy") as url:
        engine = migrated(url.format("ours"))
        seconds, again = ours(engine, source, rows, batch_size, now)
        engine.dispose()
        print(f"ours:      {seconds:6.2f} s  {rows / seconds:10,.0f} rows/s  (import_csv)")
        print(f"re-import: {again:6.2f} s  {rows / again:10,.0f} rows/s  (all unchanged)")
        engine = migrated(url.format("copy"))
        least = bare_copy(engine, source, now)
        engine.dispose()
        print(
            f"COPY:      {least:6.2f} s  {rows / least:10,.0f} rows/s  (psycopg, the rows written)"
        )
        print(f"ratio ours/COPY: {least / seconds:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "subscribers.csv"
        start = time.perf_counter()
        generate(source, args.rows)
        megabytes = source.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({megabytes:.0f} MB) in {time.perf_counter() - start:.1f} s"
        )
        if args.database == "postgresql":
            on_postgresql(source, args.rows, args.batch_size, now)
            return
        seconds, again = ours(fresh(folder, "ours.db"), source, args.rows, args.batch_size, now)
        print(f"ours:      {seconds:6.2f} s  {args.rows / seconds:10,.0f} rows/s  (import_csv)")
        print(f"re-import: {again:6.2f} s  {args.rows / again:10,.0f} rows/s  (all unchanged)")
        baseline = reference(folder, source, args.batch_size, now)
        print(
            f"reference: {baseline:6.2f} s  {args.rows / baseline:10,.0f} rows/s  (Core executemany)"
        )
        print(f"ratio ours/reference: {baseline / seconds:.2f}")
        least = floor(folder, source, args.batch_size, now)
        print(
            f"floor:     {least:6.2f} s  {args.rows / least:10,.0f} rows/s  (sqlite3, the rows written)"
        )
        print(f"ratio ours/floor: {least / seconds:.2f}")


if __name__ == "__main__":
    main()
