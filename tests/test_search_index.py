"""Searching subscribers by part of an address or a name through the trigram index (SQLite
FTS5, PostgreSQL pg_trgm): exactly the subscribers a plain Python reading of the search finds,
the same with the index and without it, the index kept in step by every way subscribers are
written and forgotten, and made by the upgrade (or not, saying so) on both databases."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, make_url, text
from sqlmodel import Session
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.db import converter, create_db_engine, insert_many
from newsletter.db_schema import HEAD, upgrade
from newsletter.engagement.people import forget_person
from newsletter.subscribers import registry
from newsletter.subscribers.addresses import InvalidAddress, normalize_address
from newsletter.subscribers.csv_import import import_csv
from newsletter.subscribers.models import SUBSCRIBER, SUBSCRIBER_TAG, TAG
from newsletter.subscribers.search_index import (
    MOST_TRIGRAMS,
    SQLITE_TABLE,
    drop_index,
    has_index,
    make_index,
)

from .conftest import POSTGRES_BIN, as_postgres
from .test_db import project_folder  # noqa: F401 - the fixture `project`
from .test_postgres import cluster, database, either_engine  # noqa: F401 - the throwaway cluster

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
FIRST = [
    "Ann", "ANNA", "Zoë", "ÉLODIE", "Élodie", "élodie", "Jürgen", "JÜRGEN", "Iñigo", "Çağla",
    "İlkay", "ΣΟΦΙΑ", "Σοφία", "Олег", "ОЛЕГ", "伟", "秀英", "さくら", "محمد", "فاطمة", "O'Brien",
    "ﬁona", "Ǆenan", "",
]  # fmt: skip
LAST = [
    "Smith", "Weiß", "WEISS", "Groß", "Müller", "MÜLLER", "Lefèvre", "Núñez", "王", "佐藤",
    "الحسن", "Ἀθήνη", "50% off", "a_b", "back\\slash", 'say "hi"', "",
]  # fmt: skip
LOCALS = [
    "ann", "Anna.Smith", "a_b", "a%b", "x_%_y", "news+list", "r2d2", "jürgen", "weiß", "王伟",
    "zoë", "o'brien", "ΣΟΦΙΑ", "info", "back", "ÉLODIE",
]  # fmt: skip
DOMAINS = [
    "example.org",
    "Example.COM",
    "bücher.example",
    "xn--bcher-kva.example",
    "mail.example.net",
]
# Characters texts are made of: the data's, the wildcards and the escape, quotes, a space.
ALPHABET = "annaweißsσςoфüéÉΣ伟王محمد%_\\\"' @.-+lkmr0123ǆİi̇ﬁ"
TOPICS = ("weekly", "beta")


def people(count: int, seed: int = 17) -> list[dict[str, Any]]:
    """`count` subscribers with addresses and names in many scripts and cases, some with `%`,
    `_` and `\\` in them; each a dict of the columns written, its tags aside."""
    chance = random.Random(seed)
    made: list[dict[str, Any]] = []
    keys: set[str] = set()
    while len(made) < count:
        local = chance.choice(LOCALS) + str(chance.randrange(1000))
        try:
            address, key = normalize_address(f"{local}@{chance.choice(DOMAINS)}")
        except InvalidAddress:
            continue
        if key in keys:
            continue
        keys.add(key)
        name = " ".join(part for part in (chance.choice(FIRST), chance.choice(LAST)) if part)
        made.append(
            {
                "id": len(made) + 1,
                "email": address,
                "email_key": key,
                "name": name,
                "status": chance.choice(("active", "active", "unsubscribed")),
                "tags": {n + 1 for n in range(len(TOPICS)) if chance.random() < 0.5},
            }
        )
    return made


def fill(engine: Engine, made: list[dict[str, Any]]) -> None:
    """Write the subscribers in bulk, as the import does (the triggers fill the index)."""
    stamp = converter(SUBSCRIBER.c.created_at.type, engine.dialect)(NOW)
    columns = ("id", "email", "email_key", "name", "locale", "timezone", "status", "attributes")
    columns += ("consent_method", "consent_source", "created_at", "updated_at")
    extra = ("import", "test", stamp, stamp)
    rows = [
        (p["id"], p["email"], p["email_key"], p["name"], "en", "UTC", p["status"], "{}", *extra)
        for p in made
    ]
    with engine.begin() as connection:
        insert_many(connection, TAG, ("id", "name"), [(n + 1, t) for n, t in enumerate(TOPICS)])
        insert_many(connection, SUBSCRIBER, columns, rows)
        pairs = [(p["id"], tag) for p in made for tag in sorted(p["tags"])]
        insert_many(connection, SUBSCRIBER_TAG, ("subscriber_id", "tag_id"), pairs)


def lowering(connection: Connection) -> Callable[[str], str]:
    """The database's lower(): SQLite lowers A-Z only; PostgreSQL as its locale says (asked)."""
    if connection.dialect.name == "sqlite":
        return lambda value: re.sub("[A-Z]+", lambda found: found.group().lower(), value)
    return lambda value: str(connection.execute(text("SELECT lower(:v)"), {"v": value}).scalar())


def expected(made: list[dict[str, Any]], text_: str, lower: Callable[[str], str]) -> list[int]:
    """The ids a search for `text_` finds, read in Python from the rows written: a whole address
    is that subscriber; otherwise the key contains the text case-folded, or the name lowered by
    the database contains the text case-folded or lowered the same way."""
    if "@" in text_ and not any(character.isspace() for character in text_.strip()):
        try:
            key = normalize_address(text_)[1]
        except InvalidAddress:
            pass
        else:
            return [p["id"] for p in made if p["email_key"] == key]
    folded, lowered = text_.casefold(), lower(text_)
    return [
        p["id"]
        for p in made
        if folded in p["email_key"] or folded in p["lowered"] or lowered in p["lowered"]
    ]


def texts(made: list[dict[str, Any]], count: int, seed: int = 3) -> list[str]:
    """Texts of 1 to 30 characters: pieces of the stored keys and names (each case changed at
    random, so most find someone) and random strings of ALPHABET (most find nobody)."""
    chance = random.Random(seed)
    found: list[str] = ["%", "_", "\\", '"', "%_", "a_b", "a%b", "50%", "\\s", 'y "h', "ß", "ss"]
    found += ["weiß", "WEISS", "Weiß", "σοφ", "ΣΟΦ", "ﬁo", "fio", "İlk", "i̇lk", "ǅe", "ǆe", "伟王"]
    while len(found) < count:
        length = chance.choice((1, 2, 3, 3, 4, 5, 6, 8, 30))
        if chance.random() < 0.6:
            source = chance.choice(made)[chance.choice(("email", "email_key", "name"))]
            start = chance.randrange(max(len(source) - length, 0) + 1)
            piece = source[start : start + length]
            piece = "".join(c.upper() if chance.random() < 0.3 else c for c in piece)
        else:
            piece = "".join(chance.choice(ALPHABET) for _ in range(length))
        if piece.strip():
            found.append(piece)
    return found


def searched(engine: Engine, text_: str, **filters: Any) -> list[int]:
    with Session(engine) as session:
        return [s.id or 0 for s in registry.search(session, text_, limit=100_000, **filters)]


def test_a_search_finds_what_a_python_reading_finds_with_the_index_and_without(
    engine: Engine,
) -> None:
    made = people(500)
    fill(engine, made)
    with engine.connect() as connection:
        assert has_index(connection)
        lower = lowering(connection)
        for person in made:
            person["lowered"] = lower(person["name"])
        wanted = {piece: expected(made, piece, lower) for piece in texts(made, 300)}
    indexed = {piece: searched(engine, piece) for piece in wanted}
    with engine.begin() as connection:
        drop_index(connection)
        assert not has_index(connection)
    scanned = {piece: searched(engine, piece) for piece in wanted}
    assert indexed == wanted
    assert scanned == wanted
    finding = [piece for piece, ids in wanted.items() if ids]
    assert len(finding) > 120, "texts that find nobody test little"
    assert any(len(piece) >= 3 and not piece.isascii() for piece in finding)
    assert any(len(piece) > 2 + MOST_TRIGRAMS for piece in finding)  # Some trigrams looked up.


def test_filters_and_pages_of_an_indexed_search_are_those_of_the_whole_list(
    engine: Engine,
) -> None:
    made = people(700)
    fill(engine, made)
    common = "exam"  # In most addresses.
    everyone = searched(engine, common)
    assert len(everyone) > 400
    pages: list[int] = []
    while page := searched_page(engine, common, pages[-1] if pages else None):
        pages += page
    assert pages == everyone
    with Session(engine) as session:
        found = registry.search(session, common, status="active", tag="beta", limit=1000)
        assert [s.id for s in found] == [
            p["id"]
            for p in made
            if p["id"] in everyone and p["status"] == "active" and 2 in p["tags"]
        ]
        assert [s.id for s in registry.search(session, common, offset=10, limit=5)] == (
            everyone[10:15]
        )


def searched_page(engine: Engine, text_: str, after: int | None) -> list[int]:
    with Session(engine) as session:
        return [s.id or 0 for s in registry.search(session, text_, after_id=after, limit=37)]


@pytest.mark.parametrize(
    ("text_", "on_sqlite", "on_postgresql"),
    [
        ("Élodie", True, True),  # As written: always.
        ("ÉLODIE", True, True),  # SQLite lowers it to Élodie, PostgreSQL to élodie.
        ("Weiß", True, True),  # As written, though it folds to weiss.
        ("élodie", False, True),  # Only a lower() that knows É lowers the name's.
        ("ΣΟΦΊΑ", False, True),  # Greek: lowered by PostgreSQL only.
        ("weiss", False, False),  # Names are lowered, not case-folded: ß stays ß.
    ],
)
def test_how_a_names_case_is_ignored_is_the_databases_lower(
    engine: Engine, text_: str, on_sqlite: bool, on_postgresql: bool
) -> None:
    """The difference between the databases (PostgreSQL here in the C.UTF-8 locale) and Python's
    case folding, which would find the name by each of these texts: names are compared as the
    database's lower() makes them."""
    assert "Élodie Weiß".casefold() == "élodie weiss" and "Σοφία".casefold() == "σοφία"
    made = [
        {"id": 1, "email": "one@example.org", "email_key": "one@example.org", "status": "active"}
        | {"name": "Élodie Weiß", "tags": set()},
        {"id": 2, "email": "two@example.org", "email_key": "two@example.org", "status": "active"}
        | {"name": "Σοφία", "tags": set()},
    ]
    fill(engine, made)
    found = bool(searched(engine, text_))
    assert found == (on_sqlite if engine.dialect.name == "sqlite" else on_postgresql)


def in_step(engine: Engine) -> None:
    """On SQLite, FTS5's own check that the index holds exactly the subscriber table's values."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO {SQLITE_TABLE} ({SQLITE_TABLE}, rank) VALUES ('integrity-check', 1)"
            )


def test_every_way_of_writing_subscribers_keeps_the_index_in_step(
    engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as session:
        profile = registry.make_profile(
            "Hélène@Example.org", "Hélène Dubois", "fr", "UTC", [], ["en", "fr"], "en", "UTC"
        )
        registry.add(session, profile, status="active", method="test", source="test", now=NOW)
        session.commit()
    assert len(searched(engine, "dubois")) == 1
    people_csv = tmp_path / "people.csv"
    people_csv.write_text(
        "email,name\n" + "".join(f"reader{n}@example.org,Reader {n}\n" for n in range(1200)),
        encoding="utf-8",
    )
    options: dict[str, Any] = {"locales": ["en"], "default_locale": "en", "default_timezone": "UTC"}
    assert import_csv(engine, people_csv, batch_size=500, **options).created == 1200
    in_step(engine)
    assert (
        len(searched(engine, "reader1")) == 311
    )  # reader1, reader10-19, reader100-199, reader1000-1199.
    assert len(searched(engine, "der 1199")) == 1

    renamed = "".join(f"reader{n}@example.org,Person {n}\n" for n in range(1, 1200))
    people_csv.write_text(f"email,name\nreader0@example.org,Ada Lovelace\n{renamed}", "utf-8")
    assert import_csv(engine, people_csv, **options).updated == 1200  # Several statements.
    with Session(engine) as session:
        helene = registry.find(session, "hélène@example.org")
        assert helene is not None
        registry.update_details(
            session, helene, name="Hélène Martin", attributes=None, method="test", source="t",
            now=NOW,
        )  # fmt: skip
        session.commit()
    in_step(engine)
    assert len(searched(engine, "lovelace")) == 1 and searched(engine, "reader 1") == []
    assert len(searched(engine, "person 11")) == 111  # Person 11, 110-119, 1100-1199.
    assert searched(engine, "martin") != [] and searched(engine, "dubois") == []

    with Session(engine) as session:
        for address in ("hélène@example.org", "reader0@example.org"):
            found = registry.find(session, address)
            assert found is not None
            if address.startswith("reader"):
                forget_person(session, found, NOW)
            else:
                registry.forget(session, found, NOW)
        session.commit()
    in_step(engine)
    assert searched(engine, "martin") == [] and searched(engine, "lovelace") == []
    assert searched(engine, "hélène") == [] and len(searched(engine, "reader")) == 1199


def test_the_upgrade_indexes_the_subscribers_there_are(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0013")
    made = people(50)
    fill(engine, made)
    with engine.connect() as connection:
        assert not has_index(connection)
    upgrade(engine)
    in_step(engine)
    with engine.connect() as connection:
        indexed = connection.exec_driver_sql(
            f"SELECT rowid FROM {SQLITE_TABLE} WHERE {SQLITE_TABLE} MATCH ?", ('"exa"',)
        )
        assert sorted(indexed.scalars()) == [p["id"] for p in made if "exa" in p["email_key"]]
    local = made[7]["email_key"].split("@")[0]
    assert made[7]["id"] in searched(engine, local[1:] + "@")
    engine.dispose()


def statements(engine: Engine, run: Callable[[], object]) -> list[tuple[str, Any]]:
    """The SQL statements (and their parameters) `run()` sends."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return sent


def test_a_search_reads_the_index_in_id_order_without_sorting(engine: Engine) -> None:
    fill(engine, people(300))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # Too few rows to prefer it otherwise.
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_indexscan = off")
        for piece in ("exam", "jürg", "r%b"):
            with Session(bind=connection) as session:
                sent = statements(engine, lambda p=piece: registry.search(session, p, limit=10))
            query, parameters = sent[-1]
            explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            cursor = connection.connection.cursor()
            cursor.execute(explain + query, parameters)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            if engine.dialect.name == "sqlite":
                assert f"SCAN {SQLITE_TABLE} VIRTUAL TABLE" in plan and "TEMP B-TREE" not in plan
            else:
                assert "ix_subscriber_email_key_trgm" in plan and "ix_subscriber_name_trgm" in plan


def test_without_the_right_to_create_pg_trgm_the_upgrade_warns_and_search_works(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(request.getfixturevalue("database"))
    assert url.database is not None and POSTGRES_BIN is not None
    role = f"{url.database[:50]}_user"
    psql = [str(POSTGRES_BIN / "psql"), "-h", str(url.query["host"]), "-d", url.database]
    psql += ["-v", "ON_ERROR_STOP=1", "-c"]
    as_postgres(*psql, f"CREATE ROLE {role} LOGIN; GRANT CREATE ON SCHEMA public TO {role}")
    engine = create_db_engine(url.set(username=role).render_as_string(hide_password=False))
    with caplog.at_level(logging.WARNING):
        assert upgrade(engine)[1] == HEAD
    assert 'permission denied to create extension "pg_trgm"' in caplog.text
    assert "docs/subscribers.md" in caplog.text
    made = people(80)
    fill(engine, made)
    with engine.connect() as connection:
        assert not has_index(connection)
        lower = lowering(connection)
        for person in made:
            person["lowered"] = lower(person["name"])
        wanted = {piece: expected(made, piece, lower) for piece in ("exam", "Jürg", "a_b", "ß")}
    assert {piece: searched(engine, piece) for piece in wanted} == wanted

    as_postgres(*psql, "CREATE EXTENSION pg_trgm")  # What the database's owner would run.
    with engine.begin() as connection:
        assert make_index(connection) is None
    with engine.connect() as connection:
        assert has_index(connection)
    assert searched(engine, "Jürg") == wanted["Jürg"]
    engine.dispose()


def test_db_upgrade_makes_an_index_an_earlier_upgrade_left_out_and_status_says_so(
    project: Path,
) -> None:
    tmp_path = project  # test_db's project: a config, the current folder, news.db in it.
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert "search:   trigram index" in runner.invoke(app, ["db", "status"]).output
    engine = create_db_engine(f"sqlite:///{tmp_path / 'news.db'}")
    fill(engine, people(20))
    with engine.begin() as connection:
        drop_index(connection)  # As an upgrade on SQLite 3.33 would have left it.
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and "search:   no trigram index; searching part" in status.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.output.splitlines() == [f"database already at schema {HEAD}", "search index made"]
    in_step(engine)
    assert (
        runner.invoke(app, ["db", "upgrade"]).output.strip() == f"database already at schema {HEAD}"
    )
    engine.dispose()


def test_insert_many_counts_rows_over_several_statements(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'news.db'}")
    upgrade(engine)
    rows = [(n, f"tag{n}") for n in range(1, 1301)]
    with engine.begin() as connection:
        assert insert_many(connection, TAG, ("id", "name"), rows) == 1300
        more = rows[:700] + [(n, f"tag{n}") for n in range(1301, 1551)]
        assert insert_many(connection, TAG, ("id", "name"), more, skip_existing=True) == 250
        assert connection.exec_driver_sql("SELECT count(*) FROM tag").scalar() == 1550
    engine.dispose()
