"""A send's unsubscribes counted on a list with a history of leaves, on PostgreSQL.

    .venv/bin/python bench/unsubscribes.py     # [--subscribers 200000] [--sends 10] [--leaves 20000]

`newsletter status`, the dashboard's send page, the API and `newsletter report` count the
readers who left after a send was the last one they got (inbound/report.py, `_unsubscribed`).
In a throwaway cluster (bench/cluster.py): `--subscribers` readers, `--sends` weekly sends to
all of them, and `--leaves` unsubscribes spread over those weeks, one in seventy an hour after
the last send. Then, in the same run, the count for the last send as the report makes it (only
the leaves from the send's earliest due delivery on) against the same query without that
bound, which is what it was: PostgreSQL then read every delivery of the send. Best of three
each. The last line is `ratio bounded/unbounded: 0.NN` (lower is faster).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster import run_script, throwaway_cluster
from send import make_project
from sqlalchemy import Engine

from newsletter.db import create_db_engine
from newsletter.inbound.report import _unsubscribed, first_due

HISTORY = """
INSERT INTO subscriber (email, email_key, name, locale, timezone, status, attributes,
    consent_method, consent_source, created_at, updated_at)
SELECT 'r' || n || '@example.org', 'r' || n || '@example.org', '', 'en', 'UTC', 'active', '{}',
    '', '', now(), now() FROM generate_series(1, %(subscribers)s) n;
INSERT INTO mailing (issue, uid, "commit", dirty, tag, created_at)
SELECT 'issue-' || n, 'u' || n, '', false, '', now() - (%(sends)s - n) * interval '7 days'
FROM generate_series(1, %(sends)s) n;
INSERT INTO delivery (mailing_id, subscriber_id, locale, state, attempts, not_before,
    claimed_by, reply, message_id, queued_at, sent_at, updated_at)
SELECT mailing.id, subscriber.id, 'en', 'sent', 1, mailing.created_at, '', '250 ok', '',
    mailing.created_at, mailing.created_at + subscriber.id * interval '1 ms', now()
FROM mailing CROSS JOIN subscriber;
INSERT INTO consent_event (subscriber_id, kind, at, method, source, details)
SELECT mod(n * 9, %(subscribers)s) + 1, 'unsubscribed',
    now() - mod(n, %(sends)s * 7) * interval '1 day' + interval '1 hour', 'link', 'bench', '{}'
FROM generate_series(1, %(leaves)s) n
"""


def build(engine: Engine, subscribers: int, sends: int, leaves: int) -> None:
    run_script(engine, HISTORY, {"subscribers": subscribers, "sends": sends, "leaves": leaves})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")


def best(engine: Engine, query: Any) -> tuple[float, list[tuple[str, int]]]:
    """Seconds (best of three) of one count, and what it counted."""
    fastest, rows = float("inf"), []
    with engine.connect() as connection:
        for _ in range(3):
            start = time.perf_counter()
            rows = [(locale, count) for locale, count in connection.execute(query)]
            fastest = min(fastest, time.perf_counter() - start)
    return fastest, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=200_000)
    parser.add_argument("--sends", type=int, default=10)
    parser.add_argument("--leaves", type=int, default=20_000)
    args = parser.parse_args()
    with throwaway_cluster("history") as template, tempfile.TemporaryDirectory() as tmp:
        url = template.format("history")
        make_project(Path(tmp), 1, 1, 0, False, url)
        engine = create_db_engine(url)
        started = time.perf_counter()
        build(engine, args.subscribers, args.sends, args.leaves)
        print(f"{args.subscribers:,} subscribers, {args.sends} sends, {args.leaves:,} leaves "
              f"(built in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        last = args.sends  # The mailings' ids are 1 to --sends, the last sent last.
        with engine.connect() as connection:
            start = time.perf_counter()
            since = first_due(connection, last)
            finding = time.perf_counter() - start
        assert since is not None, "the last send has no sent delivery"
        bounded, counted = best(engine, _unsubscribed(last, since))
        unbounded, same = best(engine, _unsubscribed(last, datetime(1970, 1, 1, tzinfo=UTC)))
        assert counted == same, (counted, same)
        print(f"the last send's unsubscribes {counted}: {bounded * 1000:.1f} ms "
              f"(finding the bound: {finding * 1000:.1f} ms), without the bound "
              f"{unbounded * 1000:.1f} ms")  # fmt: skip
        print(f"ratio bounded/unbounded: {bounded / unbounded:.2f}")
        engine.dispose()


if __name__ == "__main__":
    main()
