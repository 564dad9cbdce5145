"""The outbox's own statements, on SQLite and PostgreSQL: what a claim and a record write, and
how PostgreSQL finds the rows they touch."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from newsletter.db import utcnow
from newsletter.db_schema import upgrade
from newsletter.deliver.compose import Content
from newsletter.deliver.models import DELIVERY, UNFINISHED, DeliveryState
from newsletter.deliver.outbox import Result, RetryPolicy, claim, record
from newsletter.deliver.report import mailings_with
from newsletter.deliver.sending import start_mailing
from newsletter.subscribers.models import CONSENT_EVENT, SUBSCRIBER

from .test_postgres import (  # noqa: F401 - the throwaway cluster
    add_subscribers,
    cluster,
    database,
    either_engine,
    engine_for,
)

WORKER = "host:1"
POLICY = RetryPolicy(delay=60, attempts=3)


def mailing_to(engine: Engine, readers: int) -> int:
    """A mailing queued for `readers` new subscribers; its id."""
    add_subscribers(engine, readers)
    content = Content("en", "Subject", "<p>hi</p>", "hi", "https://news.example.org/en/")
    mailing, added = start_mailing(
        engine, "2026-11-30-weekly", [content], commit="", dirty=False, to=None,
        default_locale="en", now=utcnow(),
    )  # fmt: skip
    assert added == readers and mailing.id is not None
    return mailing.id


def skip_without_flushed_statistics(engine: Engine) -> None:
    """Skip the test before PostgreSQL 15, which has no pg_stat_force_next_flush()."""
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SHOW server_version_num").scalar_one()
    if int(version) < 150000:
        pytest.skip("pg_stat_force_next_flush() came with PostgreSQL 15")


def reads_of_deliveries(engine: Engine, counted: str) -> int:
    """PostgreSQL's count of the reads of `delivery` so far: `counted` is an expression of
    pg_stat_user_tables' columns (seq_scan, idx_scan)."""
    # The statements ran on the pool's one connection: its counts are reported when it next
    # goes idle, if told to, before the count is read on it.
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    with engine.connect() as connection:
        found = connection.exec_driver_sql(
            f"SELECT {counted} FROM pg_stat_user_tables WHERE relname = 'delivery'"
        )
        return int(found.scalar_one())


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("250 2.0.0 Ok\x00 queued", "250 2.0.0 Ok\ufffd queued"),  # PostgreSQL refuses NUL.
        ("250 ok \x1b[2J\x9b", "250 ok \ufffd[2J\ufffd"),  # A terminal's escapes, for status.
        ("451 4.3.0 \ud800 lone", "451 4.3.0 \ufffd lone"),  # Cannot be encoded at all.
        ("421 4.4.2 timed out\r\n\twhile reading", "421 4.4.2 timed out while reading"),
    ],
)
def test_a_reply_is_recorded_without_the_characters_no_screen_or_database_takes(
    engine: Engine, reply: str, kept: str
) -> None:
    """A server's reply (or an error's text) is stored and shown by `status` and the dashboard:
    a character the database refuses would lose the outcomes recorded with it, and the
    message would go out again when the claim expired."""
    mailing = mailing_to(engine, 2)
    first, second = claim(engine, mailing, WORKER, limit=10, lease=300, now=utcnow())
    results = [
        Result(first.id, 0, "sent", reply, "<a@x>"),
        Result(second.id, 0, "sent", "250 OK", "<b@x>"),
    ]
    record(engine, mailing, WORKER, results, POLICY, utcnow(), lease=300)
    with engine.connect() as connection:
        rows = connection.execute(select(DELIVERY.c.state, DELIVERY.c.reply).order_by("id"))
        assert rows.all() == [("sent", kept), ("sent", "250 OK")]


def queued_on_postgresql(request: pytest.FixtureRequest) -> tuple[Engine, int]:
    """A new PostgreSQL database and the id of its mailing of 3,000 queued deliveries, analyzed
    after the audience (db.refresh_statistics); skipped where scans cannot be counted."""
    engine = engine_for(request.getfixturevalue("database"))
    upgrade(engine)
    skip_without_flushed_statistics(engine)
    return engine, mailing_to(engine, 3000)


def delivery_scans(engine: Engine) -> int:
    return reads_of_deliveries(engine, "seq_scan")


def test_claims_and_outcomes_find_their_deliveries_by_key_on_postgresql(
    request: pytest.FixtureRequest,
) -> None:
    """Each claim and each record touches its own rows, whatever the table holds. PostgreSQL
    joined `id IN (candidates)`, and the outcomes, to a scan of every delivery of every
    mailing when its statistics made the table look small or the claimed rows few: 3 of a
    claim's 8 ms at 20,000 deliveries, growing with the table."""
    engine, mailing = queued_on_postgresql(request)
    before = delivery_scans(engine)
    for _ in range(3):
        claimed = claim(engine, mailing, WORKER, limit=200, lease=300, now=utcnow())
        results = [Result(one.id, 0, "sent", "250 OK", f"<{one.id}@x>") for one in claimed]
        for start in range(0, len(results), 50):
            outcomes = results[start : start + 50]  # As a worker records, without renewal.
            record(engine, mailing, WORKER, outcomes, POLICY, utcnow(), lease=300, renew=False)
    assert delivery_scans(engine) == before
    with engine.connect() as connection:
        sent = connection.execute(select(DELIVERY.c.id).where(DELIVERY.c.state == "sent")).all()
    assert len(sent) == 600


def test_a_hard_bounce_is_recorded_and_its_source_kept_as_the_reply_is_stored(
    engine: Engine,
) -> None:
    mailing = mailing_to(engine, 1)
    [claimed] = claim(engine, mailing, WORKER, limit=10, lease=300, now=utcnow())
    reply = "550 5.1.1 <r0@example.org>:\r\n\tno such\x00 user"
    bounce = Result(claimed.id, 0, "failed", reply, "<a@x>", suppress=True)
    record(engine, mailing, WORKER, [bounce], POLICY, utcnow(), lease=300)
    stored = "550 5.1.1 <r0@example.org>: no such\ufffd user"
    with engine.connect() as connection:
        assert connection.execute(select(DELIVERY.c.reply)).scalar_one() == stored
        status = connection.execute(select(SUBSCRIBER.c.status)).scalar_one()
        sources = connection.execute(
            select(CONSENT_EVENT.c.source).where(CONSENT_EVENT.c.method == "bounce")
        ).all()
    assert status == "bounced" and sources == [(stored,)]


def test_the_mailings_with_work_are_found_without_scanning_the_deliveries(
    request: pytest.FixtureRequest,
) -> None:
    """Every idle worker process asks several times a second which mailings have deliveries
    due. PostgreSQL turned the EXISTS of that question into a join with a scan of every
    delivery of every mailing: 9 to 14 ms during a send of 20,000, growing with the history."""
    engine, mailing = queued_on_postgresql(request)
    before = delivery_scans(engine)
    due = mailings_with(engine, (DeliveryState.QUEUED,), due_by=utcnow())
    unfinished = mailings_with(engine, UNFINISHED)
    assert delivery_scans(engine) == before
    assert [id_ for id_, _, _ in due] == [id_ for id_, _, _ in unfinished] == [mailing]
