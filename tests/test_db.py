"""The database: migrations keep data, the models match them, commands refuse old schemas."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.db import create_db_engine, patiently
from newsletter.db_schema import HEAD as HEAD_IN_CODE
from newsletter.db_schema import current_revision, head_revision, migrating, upgrade
from newsletter.errors import DatabaseGone, NewsletterError
from newsletter.subscribers.addresses import address_hash
from newsletter.subscribers.search_index import SQLITE_TABLES
from newsletter.unmodelled import in_models

HEAD = head_revision()


@pytest.fixture(name="project")
def project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture `project`: a config using news.db, as the current folder."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'locales = ["en", "zh"]\ndatabase_url = "sqlite:///news.db"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("NEWSLETTER_DATABASE_URL", "NEWSLETTER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_upgrade_from_the_previous_schema_keeps_every_row(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO subscriber (id, email, email_key, name, locale, timezone, status, attributes, consent_method, consent_source, created_at, updated_at) VALUES "
            "(1, 'Ann@example.org', 'ann@example.org', 'Ann', 'en', 'Europe/Berlin', 'active', '{\"plan\": \"pro\"}', 'form', '203.0.113.5', '2024-01-01 08:00:00', '2024-01-01 08:00:00'),"
            "(2, 'li@example.cn', 'li@example.cn', '李', 'zh', 'Asia/Shanghai', 'unsubscribed', '{}', 'import', 'old.csv:2', '2024-01-02 08:00:00', '2024-03-01 08:00:00')"
        ))  # fmt: skip
        connection.execute(text("INSERT INTO tag (id, name) VALUES (1, 'weekly')"))
        connection.execute(
            text("INSERT INTO subscriber_tag (subscriber_id, tag_id) VALUES (1, 1), (2, 1)")
        )
    before, after = upgrade(engine)
    assert (before, after) == ("0001", head_revision())
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, email, name, locale, timezone, status, attributes, created_at FROM subscriber ORDER BY id"
            )
        ).fetchall()
        assert [tuple(row) for row in rows] == [
            (
                1,
                "Ann@example.org",
                "Ann",
                "en",
                "Europe/Berlin",
                "active",
                '{"plan": "pro"}',
                "2024-01-01 08:00:00",
            ),
            (
                2,
                "li@example.cn",
                "李",
                "zh",
                "Asia/Shanghai",
                "unsubscribed",
                "{}",
                "2024-01-02 08:00:00",
            ),
        ]
        assert connection.execute(text("SELECT count(*) FROM subscriber_tag")).scalar() == 2
        # Someone who had unsubscribed before the suppression list existed is on it now.
        assert connection.execute(
            text("SELECT email_hash, reason FROM suppression")
        ).fetchall() == [(address_hash("li@example.cn"), "unsubscribed")]


def test_the_schema_version_commands_require_is_alembics_head() -> None:
    assert head_revision() == HEAD_IN_CODE


def test_the_tables_checked_for_are_the_ones_the_migrations_make(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from newsletter.db import TABLES

    engine = create_db_engine(f"sqlite:///{tmp_path / 'tables.db'}")
    upgrade(engine)
    made = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert made - SQLITE_TABLES == TABLES  # The search index's tables are SQLite's only.
    assert made >= SQLITE_TABLES
    engine.dispose()


def test_models_and_migrations_describe_the_same_schema(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(engine)
    import newsletter.inbound.models
    import newsletter.schedule.models
    import newsletter.subscribers.models  # noqa: F401

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": in_models})
        assert compare_metadata(context, SQLModel.metadata) == []
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_commands_refuse_an_outdated_schema_and_say_how_to_fix_it(project: Path) -> None:
    code, output = run("subscribers", "list")
    assert (
        code == 1 and "has no tables yet" in output and "fix: run `newsletter db upgrade`" in output
    )
    code, output = run("db", "status")
    assert code == 1 and "run `newsletter db upgrade`" in output
    upgrade(create_db_engine(f"sqlite:///{project / 'news.db'}"), "0001")
    code, output = run("subscribers", "list")
    assert code == 1 and f"is at schema 0001, this version needs {HEAD}" in output
    code, output = run("db", "upgrade")
    assert code == 0 and f"upgraded from 0001 to {HEAD}" in output
    assert run("db", "upgrade")[1].strip() == f"database already at schema {HEAD}"
    assert run("db", "status")[0] == 0
    assert current_revision(create_db_engine(f"sqlite:///{project / 'news.db'}")) == HEAD


def test_subscriber_commands(project: Path) -> None:
    assert run("db", "upgrade")[0] == 0
    code, output = run(
        "subscribers",
        "add",
        "Ana@Example.org",
        "--name",
        "Ana Lima",
        "--locale",
        "zh",
        "--timezone",
        "Asia/Shanghai",
        "--tag",
        "weekly",
    )
    assert code == 0, output
    code, output = run("subscribers", "add", "ana@example.org")
    assert code == 1 and "already a subscriber" in output
    assert run("subscribers", "add", "x@", "--locale", "en")[0] == 1
    code, output = run("subscribers", "add", "bo@example.org", "--locale", "xx")
    assert code == 1 and "locale" in output
    assert run("subscribers", "add", "bo@example.org", "--timezone", "Mars/Base")[0] == 1
    assert run("subscribers", "add", "bo@example.org")[0] == 0
    code, output = run("subscribers", "search", "lima")
    assert "Ana@example.org" in output and "bo@example.org" not in output and "1 shown" in output
    code, output = run("subscribers", "list", "--tag", "weekly")
    assert "Ana@example.org" in output and "1 shown" in output
    code, output = run("subscribers", "show", "ANA@example.org", "--json")
    data = json.loads(output)
    assert (
        data["email"] == "Ana@example.org"
        and data["tags"] == ["weekly"]
        and data["consent_events"][0]["kind"] == "add"
    )
    assert run("subscribers", "remove", "bo@example.org")[0] == 0
    code, output = run("subscribers", "add", "bo@example.org")
    assert code == 1 and "already a subscriber (unsubscribed)" in output
    assert run("subscribers", "export", str(project / "out.csv"))[0] == 0
    lines = (project / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("email,name,locale,timezone,status,tags")
    assert any(
        line.startswith("Ana@example.org,Ana Lima,zh,Asia/Shanghai,active,weekly") for line in lines
    )
    assert run("subscribers", "forget", "ana@example.org", "--yes")[0] == 0
    assert run("subscribers", "show", "ana@example.org")[0] == 1
    code, output = run("subscribers", "add", "ana@example.org")
    assert code == 1 and "suppression list" in output


def test_a_percent_sign_in_the_database_path_is_fine(tmp_path: Path) -> None:
    folder = tmp_path / "100% local"
    folder.mkdir()
    engine = create_db_engine(f"sqlite:///{folder / 'news.db'}")
    assert upgrade(engine)[1] == head_revision()


def test_addresses_are_checked_and_keyed() -> None:
    from newsletter.subscribers.addresses import InvalidAddress, normalize_address

    assert normalize_address(" Ann.Lee+news@Example.ORG ") == (
        "Ann.Lee+news@example.org",
        "ann.lee+news@example.org",
    )
    assert normalize_address("müller@bücher.de")[1] == "müller@bücher.de"
    for bad in ("bob@", "no-at-sign", "x@localhost", "a..b@example.org", "a" * 65 + "@example.org"):
        with pytest.raises(InvalidAddress):
            normalize_address(bad)


def test_upgrade_gives_a_domain_written_in_a_labels_the_key_of_its_unicode_form(
    tmp_path: Path,
) -> None:
    """0005: one key per address however its domain was written; a pair that were two rows
    before keeps both rows (a person merges them), and nothing is lost."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0004")
    row = (
        "({id}, '{email}', '{key}', '', 'en', 'UTC', 'active', '{{}}', 'form', '', "
        "'2024-01-01 08:00:00', '2024-01-01 08:00:00')"
    )
    people = [
        (1, "ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example"),
        (2, "bob@bücher.example", "bob@bücher.example"),
        (3, "bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example"),
        (4, "eve@example.org", "eve@example.org"),
    ]
    values = ", ".join(row.format(id=i, email=e, key=k) for i, e, k in people)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO subscriber (id, email, email_key, name, locale, timezone, status, attributes, consent_method, consent_source, created_at, updated_at) VALUES "
            + values
        ))  # fmt: skip
    upgrade(engine)
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT id, email, email_key FROM subscriber ORDER BY id"))
        assert keys.fetchall() == [
            (1, "ann@xn--bcher-kva.example", "ann@bücher.example"),
            (2, "bob@bücher.example", "bob@bücher.example"),
            (3, "bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example"),
            (4, "eve@example.org", "eve@example.org"),
        ]
    from alembic import command

    from newsletter.db_schema import _alembic

    with engine.begin() as connection:  # And back: the keys as 0004 made them.
        config = _alembic(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT email_key FROM subscriber ORDER BY id"))
        assert [key for (key,) in keys] == [email for _, email, _ in people]


def test_upgrade_gives_each_inbound_event_its_deliverys_locale(tmp_path: Path) -> None:
    """0018: the events there are get the locale of their delivery; one without keeps "", and
    one whose delivery is gone (deleted with foreign keys off) is left without one."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0017")
    stamp = "'2026-12-01 08:00:00'"
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO subscriber (id, email, email_key, name, locale, timezone, status, "
            "attributes, consent_method, consent_source, created_at, updated_at) VALUES (1, "
            f"'ann@example.org', 'ann@example.org', '', 'de', 'UTC', 'active', '{{}}', 'form', "
            f"'', {stamp}, {stamp})",
            'INSERT INTO mailing (id, issue, uid, "commit", dirty, tag, created_at) VALUES '
            f"(1, 'weekly', 'u', '', 0, '', {stamp})",
            "INSERT INTO delivery (id, mailing_id, subscriber_id, locale, state, attempts, "
            "not_before, claimed_by, reply, message_id, queued_at, sent_at, updated_at) VALUES "
            f"(1, 1, 1, 'de', 'sent', 1, {stamp}, '', '250 ok', '<u.1@x>', {stamp}, {stamp}, "
            f"{stamp})",
            "INSERT INTO inbound_message (id, digest, source, kinds, problem, kept, received_at) "
            f"VALUES (1, 'd', 'test', 'hard', '', 0, {stamp})",
            "INSERT INTO inbound_event (id, message_id, kind, delivery_id, mailing_id, "
            "subscriber_id, recipient_hash, status, diagnostic, matched_by, reason, action, "
            f"source, at) VALUES (1, 1, 'hard', 1, 1, 1, '', '5.1.1', '', 'verp', '', '', '', "
            f"{stamp}), (2, 1, 'hard', NULL, NULL, NULL, '', '5.1.1', '', 'none', '', '', '', "
            f"{stamp})",
        ):
            connection.execute(text(statement))
    with engine.connect() as connection:  # As the sqlite3 shell leaves it: foreign keys off.
        connection.execute(text("PRAGMA foreign_keys = OFF"))
        connection.execute(
            text(
                "INSERT INTO inbound_event (id, message_id, kind, delivery_id, mailing_id, "
                "subscriber_id, recipient_hash, status, diagnostic, matched_by, reason, action, "
                f"source, at) VALUES (3, 1, 'soft', 99, 1, 1, '', '4.2.2', '', 'verp', '', '', "
                f"'', {stamp})"
            )
        )
        connection.commit()
    upgrade(engine)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT locale, delivery_id FROM inbound_event ORDER BY id")
        )
        assert found.all() == [("de", 1), ("", None), ("", None)]
    engine.dispose()


def test_a_wait_for_the_database_is_logged_once_not_at_each_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Four workers waiting out a minute's failover, each trying every second, wrote 240 lines."""
    tries = iter(range(20))

    def attempt() -> str:
        if next(tries) < 19:
            raise DatabaseGone("database postgresql://db/news: cannot connect: refused")
        return "done"

    with caplog.at_level("WARNING", logger="newsletter.db"):
        waited = patiently(
            attempt, patience=60, pause=0.001, what="claiming deliveries", on=(DatabaseGone,)
        )
    assert waited == "done"
    assert [r.getMessage() for r in caplog.records] == [
        "claiming deliveries: database postgresql://db/news: cannot connect: refused; trying again"
    ]


def test_a_migration_on_sqlite_is_all_or_nothing(tmp_path: Path) -> None:
    """A migration's CREATE and DROP statements are in its transaction (the driver began one
    only before INSERT, UPDATE and DELETE): one that fails leaves nothing behind."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'news.db'}")
    with pytest.raises(RuntimeError), migrating(engine) as connection:
        connection.exec_driver_sql("CREATE TABLE half (id integer)")
        raise RuntimeError("the migration's next step fails")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT name FROM sqlite_master").all() == []
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # Set back,
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection) and driver.isolation_level == ""  # too.


def test_a_migration_that_would_leave_rows_pointing_at_nothing_is_rolled_back(
    tmp_path: Path,
) -> None:
    """Foreign keys are off while SQLite migrates (a table copied and dropped would take what
    points at it along): what a migration left dangling is found before the commit. A row
    dangling before (written with the keys off) is not the migration's doing."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'news.db'}")
    upgrade(engine)
    stamp = "'2026-12-04 08:00:00'"
    with engine.begin() as connection:
        connection.exec_driver_sql(
            'INSERT INTO mailing (id, issue, uid, "commit", dirty, tag, created_at, audience) '
            f"VALUES (1, 'one', 'u1', '', 0, '', {stamp}, '')"
        )
        connection.exec_driver_sql(
            "INSERT INTO tracked_link (id, mailing_id, locale, position, url, story, "
            "story_title, label) VALUES (1, 1, 'en', 1, 'https://example.org/', '', '', '')"
        )
    with closing(sqlite3.connect(tmp_path / "news.db")) as keys_off, keys_off:
        keys_off.execute(  # Dangling before any migration (sqlite3's keys are off).
            f"INSERT INTO edition_open (mailing_id, locale, at, agent, client, delivery_id) "
            f"VALUES (1, 'en', {stamp}, 'person', '', 99)"
        )
    refused = r"1 more row\(s\) of \w+ pointing at a row of mailing that does not exist; it"
    with pytest.raises(NewsletterError, match=refused), migrating(engine) as connection:
        connection.exec_driver_sql("DELETE FROM mailing")  # No cascade: the keys are off.
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM mailing").scalar() == 1
    with migrating(engine) as connection:  # The earlier dangling row blocks nothing.
        connection.exec_driver_sql("UPDATE mailing SET tag = 'weekly'")
