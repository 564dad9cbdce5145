"""PostgreSQL's tally of deliveries (deliver/tally.py): the counts `newsletter status`, the
dashboard and the API show equal a count of the deliveries after every kind of change, are
read without reading the deliveries, and never make one writer wait for another."""

from __future__ import annotations

import threading
import time

import pytest
from alembic import command
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import OperationalError

from newsletter.db import utcnow
from newsletter.db_schema import _alembic, upgrade
from newsletter.deliver.audience import (
    audience,
    enqueue_audience,
    queue_deliveries,
    requeue_failed,
)
from newsletter.deliver.compose import Content
from newsletter.deliver.models import DELIVERY, FINAL, MAILING, MAILING_EDITION, Mailing
from newsletter.deliver.outbox import Result, RetryPolicy, claim, record, release, requeue_abandoned
from newsletter.deliver.report import counts, progress, state_counts
from newsletter.deliver.sending import start_mailing
from newsletter.deliver.smtp import DEFERRED
from newsletter.inbound.report import outcomes
from newsletter.subscribers.models import SUBSCRIBER

from .test_outbox import reads_of_deliveries, skip_without_flushed_statistics
from .test_postgres import (  # noqa: F401 - the throwaway cluster
    add_subscribers,
    cluster,
    database,
    engine_for,
)

WORKER = "host:1"
POLICY = RetryPolicy(delay=0, attempts=2)


def readers(engine: Engine, first: int, count: int) -> None:
    """`count` active subscribers from r{first}@example.org on, every third in German."""
    add_subscribers(engine, count, first, locales=("de", "en", "en"))


def mailing(engine: Engine, issue: str = "2026-12-04-weekly") -> Mailing:
    editions = [
        Content(locale, "Subject", "<p>hi</p>", "hi", f"https://news.example.org/{locale}/")
        for locale in ("en", "de")
    ]
    made, _ = start_mailing(
        engine, issue, editions, commit="", dirty=False, to=None, default_locale="en",
        now=utcnow(),
    )  # fmt: skip
    return made


def old_mailing(engine: Engine) -> Mailing:
    """A mailing to every reader as schema 0016 holds it (only its columns are written)."""
    now = utcnow()
    with engine.begin() as connection:
        values = {"issue": "2026-12-04-weekly", "uid": "0123456789abcdef", "created_at": now}
        made = connection.execute(insert(MAILING).values(values)).inserted_primary_key[0]
        for locale in ("en", "de"):
            edition = {"subject": "Subject", "web_url": f"https://news.example.org/{locale}/"}
            connection.execute(
                insert(MAILING_EDITION).values(
                    mailing_id=made, locale=locale, html="<p>hi</p>", text="hi", **edition
                )
            )
        rows = audience(connection, ["en", "de"], default_locale="en", to=None)
        queue_deliveries(connection, made, [(id_, loc, now) for id_, loc, _ in rows], now)
    return Mailing(id=made, **values)


def counted(engine: Engine, mailing_id: int) -> dict[tuple[str, str], int]:
    """The deliveries per (locale, state), counted from the deliveries themselves."""
    query = (
        select(DELIVERY.c.locale, DELIVERY.c.state, func.count())
        .where(DELIVERY.c.mailing_id == mailing_id)
        .group_by(DELIVERY.c.locale, DELIVERY.c.state)
    )
    with engine.connect() as connection:
        return {(locale, state): n for locale, state, n in connection.execute(query)}


def agree(engine: Engine, mailing_id: int) -> dict[tuple[str, str], int]:
    """Check that every count the reports give is the deliveries' own; return them."""
    expected = counted(engine, mailing_id)
    assert counts(engine, mailing_id) == expected
    per_state: dict[str, int] = {}
    for (_, state), n in expected.items():
        per_state[state] = per_state.get(state, 0) + n
    assert state_counts(engine, [mailing_id]) == {mailing_id: per_state}
    final = sum(n for state, n in per_state.items() if state in FINAL)
    assert progress(engine, mailing_id) == (final, sum(per_state.values()))
    return expected


def migrated(request: pytest.FixtureRequest) -> Engine:
    engine = engine_for(request.getfixturevalue("database"))
    upgrade(engine)
    return engine


def test_the_counts_follow_every_change_of_the_deliveries(request: pytest.FixtureRequest) -> None:
    engine = migrated(request)
    readers(engine, 0, 90)
    sent = mailing(engine)  # Its first audience goes in by COPY.
    assert sent.id is not None
    assert agree(engine, sent.id) == {("de", "queued"): 30, ("en", "queued"): 60}

    claimed = claim(engine, sent.id, WORKER, limit=40, lease=300, now=utcnow())
    agree(engine, sent.id)
    outcomes = [
        Result(one.id, 0, ("sent", "failed", DEFERRED)[n % 3], "250 OK", f"<{one.id}@x>")
        for n, one in enumerate(claimed[:30])
    ]
    outcomes[1] = Result(claimed[1].id, 0, "failed", "550 5.1.1 no such user", suppress=True)
    record(engine, sent.id, WORKER, outcomes, POLICY, utcnow(), lease=300)
    agree(engine, sent.id)
    release(engine, WORKER, [one.id for one in claimed[30:35]], utcnow())
    agree(engine, sent.id)
    # The rest of the claims: their worker died.
    assert requeue_abandoned(engine, sent.id, utcnow(), alive=lambda _: False) == 5
    agree(engine, sent.id)
    assert requeue_failed(engine, sent.id, utcnow()) > 0
    agree(engine, sent.id)

    readers(engine, 90, 12)  # Joined since: a second queueing merges them in.
    assert enqueue_audience(engine, sent, default_locale="en", to=None, now=utcnow()) == 12
    agree(engine, sent.id)
    with engine.begin() as connection:  # A reader forgotten: the delivery stays, anonymous.
        connection.execute(delete(SUBSCRIBER).where(SUBSCRIBER.c.email == "r4@example.org"))
        # What an operator's SQL does counts too.
        connection.execute(
            update(DELIVERY).where(DELIVERY.c.locale == "de").values(state="skipped")
        )
        connection.execute(delete(DELIVERY).where(DELIVERY.c.id == claimed[0].id))
    counts_now = agree(engine, sent.id)
    assert sum(counts_now.values()) == 101 and counts_now[("de", "skipped")] == 33  # r0 gone

    other = mailing(engine, "2026-12-11-weekly")
    assert other.id is not None
    agree(engine, other.id)
    with engine.begin() as connection:  # A mailing deleted takes its deliveries along.
        connection.execute(delete(MAILING).where(MAILING.c.id == sent.id))
    assert counts(engine, sent.id) == {}
    agree(engine, other.id)
    with engine.begin() as connection:  # No delete trigger fires for a TRUNCATE.
        connection.exec_driver_sql("TRUNCATE delivery CASCADE")
    assert agree(engine, other.id) == {}
    assert enqueue_audience(engine, other, default_locale="en", to=None, now=utcnow()) == 100
    agree(engine, other.id)


def test_the_counts_are_read_without_reading_the_deliveries(
    request: pytest.FixtureRequest,
) -> None:
    """Counting a send by its deliveries read every one of them: 0.13 s at a million, 0.3 s
    right after the send, at every `status` and every refresh of the dashboard."""
    engine = migrated(request)
    skip_without_flushed_statistics(engine)
    readers(engine, 0, 30)
    sent = mailing(engine)
    assert sent.id is not None

    def delivery_reads() -> int:
        return reads_of_deliveries(engine, "seq_scan + coalesce(idx_scan, 0)")

    before = delivery_reads()
    assert counts(engine, sent.id) == {("de", "queued"): 10, ("en", "queued"): 20}
    assert state_counts(engine, [sent.id]) == {sent.id: {"queued": 30}}
    assert progress(engine, sent.id) == (0, 30)
    assert delivery_reads() == before


def test_writers_of_one_mailing_never_wait_for_one_another(request: pytest.FixtureRequest) -> None:
    """The audience of a large send is queued in one transaction, and workers record outcomes
    while other transactions are open: one count row shared by every writer would make each
    wait for the other's commit (and two in opposite orders deadlock)."""
    engine = migrated(request)
    readers(engine, 0, 20)
    sent = mailing(engine)
    assert sent.id is not None
    ids = [one.id for one in claim(engine, sent.id, WORKER, limit=20, lease=300, now=utcnow())]
    with engine.connect() as first, engine.connect() as second:
        first.begin()
        first.execute(update(DELIVERY).where(DELIVERY.c.id.in_(ids[:10])).values(state="sent"))
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        try:
            second.execute(update(DELIVERY).where(DELIVERY.c.id.in_(ids[10:])).values(state="sent"))
        except OperationalError as error:  # pragma: no cover - the defect this test finds
            pytest.fail(f"the second writer waited for the first: {error.orig}")
        second.commit()
        assert agree(engine, sent.id)[("en", "sending")] > 0  # The first's are not in yet.
        first.commit()
    assert sum(agree(engine, sent.id).values()) == 20


def test_the_counts_make_no_writer_wait_for_a_mailing_being_deleted(
    request: pytest.FixtureRequest,
) -> None:
    """A worker holds one delivery of the send (its transaction open) when an operator deletes
    the mailing: the delete waits for the worker. The worker's next outcome, on a delivery the
    delete has not reached, must not wait for the delete in turn, as it did when a new count
    row's foreign-key check locked the mailing's row (PostgreSQL then broke the deadlock by
    failing one of them)."""
    engine = migrated(request)
    readers(engine, 0, 6)
    sent = mailing(engine)
    assert sent.id is not None
    first, *_, last = claim(engine, sent.id, WORKER, limit=6, lease=300, now=utcnow())
    deleted: list[BaseException | None] = []

    def delete_the_mailing() -> None:
        try:
            with engine.begin() as connection:
                connection.execute(delete(MAILING).where(MAILING.c.id == sent.id))
            deleted.append(None)
        except BaseException as error:
            deleted.append(error)

    with engine.connect() as worker:
        worker.begin()
        # The lease renewed: the delivery's row is the worker's until it commits.
        renewed = update(DELIVERY).where(DELIVERY.c.id == first.id).values(lease_until=utcnow())
        worker.execute(renewed)
        operator = threading.Thread(target=delete_the_mailing)
        operator.start()
        waiting_for_lock(engine)
        worker.execute(update(DELIVERY).where(DELIVERY.c.id == last.id).values(state="failed"))
        worker.commit()
    operator.join(timeout=30)
    assert deleted == [None]
    assert counts(engine, sent.id) == {}


def waiting_for_lock(engine: Engine) -> None:
    """Return once another session of the database waits for a lock."""
    deadline = time.monotonic() + 10
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if waiting.scalar_one():
                return
            # A transaction reads the sessions' activity once: each look is a new one.
            connection.rollback()
            time.sleep(0.02)
    pytest.fail("no session waited for a lock")


def test_a_send_report_counts_the_sent_messages_from_the_tally(
    request: pytest.FixtureRequest,
) -> None:
    """The dashboard's send page, the API's send and `newsletter report` count the sent
    messages per locale from the tally too: the report reads no more deliveries than when its
    caller has counted them (the unsubscribes' query reads the sent ones either way)."""
    engine = migrated(request)
    skip_without_flushed_statistics(engine)
    readers(engine, 0, 300)
    sent = mailing(engine)
    assert sent.id is not None
    claimed = claim(engine, sent.id, WORKER, limit=300, lease=300, now=utcnow())
    outcomes_ = [Result(one.id, 0, "sent", "250 OK", f"<{one.id}@x>") for one in claimed]
    record(engine, sent.id, WORKER, outcomes_, POLICY, utcnow(), lease=300)

    def rows_read(sent_given: dict[str, int] | None) -> tuple[int, dict[str, int]]:
        """Deliveries read by one report, and its sent messages per locale."""
        assert sent.id is not None
        before = reads_of_deliveries(engine, "seq_tup_read + coalesce(idx_tup_fetch, 0)")
        found = outcomes(engine, sent.id, sent_given)
        after = reads_of_deliveries(engine, "seq_tup_read + coalesce(idx_tup_fetch, 0)")
        return after - before, {locale: one.sent for locale, one in found.items()}

    given = {"de": 100, "en": 200}
    reads_counting, counted_here = rows_read(None)
    reads_given, _ = rows_read(given)
    assert counted_here == given and reads_counting == reads_given


def test_the_migration_counts_the_deliveries_already_there(
    request: pytest.FixtureRequest,
) -> None:
    engine = engine_for(request.getfixturevalue("database"))
    upgrade(engine, "0016")
    readers(engine, 0, 15)
    sent = old_mailing(engine)
    assert sent.id is not None
    claim(engine, sent.id, WORKER, limit=4, lease=300, now=utcnow())
    upgrade(engine)
    assert agree(engine, sent.id) == {
        ("de", "queued"): 3, ("de", "sending"): 2, ("en", "queued"): 8, ("en", "sending"): 2,
    }  # fmt: skip
    readers(engine, 15, 3)
    enqueue_audience(engine, sent, default_locale="en", to=None, now=utcnow())
    agree(engine, sent.id)
    with engine.begin() as connection:  # And back: the tally goes with its triggers.
        config = _alembic(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0016")
        assert connection.exec_driver_sql("SELECT to_regclass('delivery_tally')").scalar() is None
        connection.execute(update(DELIVERY).values(state="sent"))
    upgrade(engine)
    assert agree(engine, sent.id) == {("de", "sent"): 6, ("en", "sent"): 12}
