"""0021: `delivery` has three indexes, and the unique one leads with the subscriber (issue 18).

Upgraded from 0020 with deliveries in it, on SQLite and on PostgreSQL: the rows stay, the
index on subscriber_id alone is gone, one delivery of a mailing per subscriber is still all
there can be, and a subscriber's deliveries are still found by an index; and back again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from newsletter.db import create_db_engine
from newsletter.db_schema import _alembic, migrating, upgrade

from .test_postgres import new_database

STAMP = "'2026-12-04 08:00:00'"
ROWS = (
    "INSERT INTO subscriber (id, email, email_key, name, locale, timezone, status, attributes, "
    "consent_method, consent_source, created_at, updated_at) VALUES "
    + ", ".join(
        f"({n}, 'r{n}@example.org', 'r{n}@example.org', '', 'en', 'UTC', 'active', '{{}}', "
        f"'form', '', {STAMP}, {STAMP})"
        for n in (1, 2)
    ),
    'INSERT INTO mailing (id, issue, uid, "commit", dirty, tag, created_at, audience) VALUES '
    f"(1, 'one', 'u1', '', false, '', {STAMP}, ''), (2, 'two', 'u2', '', false, '', {STAMP}, '')",
)
POINTING = (  # Rows of other tables that point at deliveries 1 and 3 (ON DELETE SET NULL).
    "INSERT INTO tracked_link (id, mailing_id, locale, position, url, story, story_title, "
    "label) VALUES (1, 1, 'en', 1, 'https://example.org/', '', '', '')",
    f"INSERT INTO link_click (id, link_id, at, agent, client, delivery_id) VALUES "
    f"(1, 1, {STAMP}, 'person', '', 1)",
    f"INSERT INTO edition_open (id, mailing_id, locale, at, agent, client, delivery_id) VALUES "
    f"(1, 2, 'en', {STAMP}, 'person', '', 3)",
)


def delivery(id_: int, mailing: int, subscriber: int) -> str:
    return (
        "INSERT INTO delivery (id, mailing_id, subscriber_id, locale, state, attempts, "
        "not_before, claimed_by, reply, message_id, queued_at, updated_at) VALUES "
        f"({id_}, {mailing}, {subscriber}, 'en', 'queued', 0, {STAMP}, '', '', '', {STAMP}, "
        f"{STAMP})"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A new, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'news.db'}"
    else:
        url = new_database(request.getfixturevalue("postgres_cluster"), request)
    made = create_db_engine(url)
    yield made
    made.dispose()


def indexes(connection: Connection) -> dict[str, list[str]]:
    """The indexes of `delivery` as column lists, the unique constraint's as "unique"."""
    found = inspect(connection)
    listed = {one["name"]: one["column_names"] for one in found.get_indexes("delivery")}
    unique = found.get_unique_constraints("delivery")
    assert len(unique) == 1
    listed.pop(unique[0]["name"], None)  # PostgreSQL lists the constraint's index too.
    return {**listed, "unique": unique[0]["column_names"]}


def found_by_index(connection: Connection) -> bool:
    """Whether a subscriber's deliveries are looked up in the unique index that leads with the
    subscriber, not read from a scan of the whole table or of an index that leads otherwise."""
    query = "SELECT id FROM delivery WHERE subscriber_id = 2"
    if connection.dialect.name == "sqlite":
        plan = " ".join(
            row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
        )
        return plan.startswith("SEARCH delivery USING") and "(subscriber_id=?)" in plan
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # A tiny table: scanned.
    plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {query}"))
    return "delivery_subscriber_id_mailing_id_key" in plan


def pointers(engine: Engine) -> tuple[int, int]:
    """The deliveries the click and the open point at."""
    with engine.connect() as connection:
        click = connection.execute(text("SELECT delivery_id FROM link_click")).scalar_one()
        opened = connection.execute(text("SELECT delivery_id FROM edition_open")).scalar_one()
    return click, opened


def test_the_unique_index_serves_a_subscribers_deliveries(engine: Engine) -> None:
    upgrade(engine, "0020")
    with engine.begin() as connection:
        for statement in (*ROWS, delivery(1, 1, 1), delivery(2, 1, 2), delivery(3, 2, 2)):
            connection.exec_driver_sql(statement)
        for statement in POINTING:
            connection.exec_driver_sql(statement)
    if engine.dialect.name == "sqlite":  # A subscriber deleted by hand, the keys off (sqlite3):
        with closing(sqlite3.connect(engine.url.database or "")) as keys_off, keys_off:
            keys_off.execute("DELETE FROM subscriber WHERE id = 1")  # delivery 1 points at none.
    upgrade(engine)  # Not the migration's doing: left as it was, and no reason to refuse.
    assert pointers(engine) == (1, 3)  # SQLite copies the table: foreign keys off meanwhile.
    with engine.begin() as connection:
        assert indexes(connection) == {
            "ix_delivery_claim": ["mailing_id", "state", "not_before", "id"],
            "unique": ["subscriber_id", "mailing_id"],
        }
        assert found_by_index(connection)
        rows = connection.execute(text("SELECT id, mailing_id, subscriber_id FROM delivery"))
        assert sorted(rows) == [(1, 1, 1), (2, 1, 2), (3, 2, 2)]
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql(delivery(4, 2, 2))  # Subscriber 2 has mailing 2 already.

    with migrating(engine) as connection:  # And back: 0020's indexes, the rows kept.
        config = _alembic(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0020")
    with engine.begin() as connection:
        assert indexes(connection) == {
            "ix_delivery_claim": ["mailing_id", "state", "not_before", "id"],
            "ix_delivery_subscriber_id": ["subscriber_id"],
            "unique": ["mailing_id", "subscriber_id"],
        }
        assert connection.execute(text("SELECT count(*) FROM delivery")).scalar() == 3
    assert pointers(engine) == (1, 3)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql(delivery(4, 2, 2))
