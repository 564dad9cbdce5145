"""CSV subscriber import on real SQLite files: bad rows, encodings, merges, suppression, consent."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlmodel
from sqlalchemy import Engine, insert, select, update
from sqlmodel import Session, SQLModel

from newsletter.db import create_db_engine
from newsletter.db_schema import upgrade
from newsletter.errors import NewsletterError
from newsletter.subscribers.addresses import address_hash
from newsletter.subscribers.csv_import import ImportReport, import_csv
from newsletter.subscribers.export import export_csv
from newsletter.subscribers.models import ConsentEvent, Subscriber

from .conftest import FIXTURES, LOCALES
from .test_delivery import migrated

CSV = FIXTURES / "csv"
TABLES = SQLModel.metadata.tables
NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 8, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    migrated(f"sqlite:///{tmp_path / 'subscribers.db'}")
    return create_db_engine(f"sqlite:///{tmp_path / 'subscribers.db'}")


def run(engine: Engine, path: Path, **options: Any) -> ImportReport:
    """import_csv with the test project's settings; checks that every row is counted once."""
    settings = {"locales": LOCALES, "default_locale": "en", "default_timezone": "Europe/Berlin"}
    report = import_csv(engine, path, **{**settings, "now": NOW, **options})
    counted = (
        report.created + report.updated + report.unchanged + report.duplicates + report.suppressed
    )
    assert counted + len(report.invalid) == report.rows, report
    return report


def subscribers(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every subscriber by address key, with its tags."""
    with engine.connect() as connection:
        tags: dict[int, set[str]] = {}
        query = "SELECT subscriber_id, name FROM subscriber_tag JOIN tag ON tag.id = tag_id"
        for subscriber_id, name in connection.exec_driver_sql(query):
            tags.setdefault(subscriber_id, set()).add(name)
        rows = connection.execute(select(TABLES["subscriber"])).mappings()
        return {row["email_key"]: {**row, "tags": tags.get(row["id"], set())} for row in rows}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as stored."""
    with engine.connect() as connection:
        return {
            name: sorted(tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {name}"))
            for name in SQLModel.metadata.tables
        }


def test_each_kind_of_bad_row_is_reported_with_its_line_and_the_rest_is_imported(
    engine: Engine,
) -> None:
    report = run(engine, CSV / "bad-rows.csv")

    expected = [
        (3, "email: 'bob@' has nothing after the @-sign"),
        (4, "locale: 'xx' is not a known locale"),
        (5, "timezone: 'Mars/Olympus' is not an IANA time zone"),
        (6, "columns: the row has 3 fields, the header has 5"),
        (10, "locale: 'sv' is not one of the configured locales"),
    ]
    reported = [(row.line, row.reason) for row in report.invalid]
    assert [
        (line, reason[: len(start)])
        for (line, reason), (_, start) in zip(reported, expected, strict=True)
    ] == expected
    assert (report.rows, report.created) == (9, 4)
    found = subscribers(engine)
    assert sorted(found) == [
        "ann@example.com",
        "fay@example.com",
        "gus@example.com",
        "ida@example.com",
    ]
    assert (found["ann@example.com"]["locale"], found["ann@example.com"]["tags"]) == (
        "en",
        {"weekly"},
    )
    fay = found["fay@example.com"]
    assert (fay["name"], fay["locale"], fay["timezone"]) == (
        "Fay, Jr.",
        "pt_BR",
        "America/Sao_Paulo",
    )
    assert fay["tags"] == {"weekly", "beta"}
    gus = found["gus@example.com"]
    assert (gus["name"], gus["locale"], gus["timezone"]) == (
        "Gus Gustavsson",  # A line break in a name cell becomes a space, as in the forms.
        "en",
        "Europe/Berlin",
    )
    assert found["ida@example.com"]["tags"] == {"beta", "news"}


@pytest.mark.parametrize(
    ("fixture", "options", "expected"),
    [
        (
            "utf8-bom.csv",
            {},
            {"li@example.com": ("李伟", "zh"), "zoe@example.com": ("Zoë Müller", "de")},
        ),
        (
            "excel-unicode.txt",
            {},
            {"maria@example.com": ("María Núñez", "es"), "yuki@example.com": ("佐藤 結衣", "ja")},
        ),
        (
            "latin1.csv",
            {"encoding": "latin-1"},
            {
                "juergen@example.com": ("Jürgen Groß", "de"),
                "helene@example.com": ("Hélène Faure", "fr"),
            },
        ),
    ],
)
def test_encodings(
    engine: Engine, fixture: str, options: dict[str, Any], expected: dict[str, tuple[str, str]]
) -> None:
    report = run(engine, CSV / fixture, **options)

    assert (report.created, report.invalid) == (2, [])
    assert {
        key: (row["name"], row["locale"]) for key, row in subscribers(engine).items()
    } == expected


def test_latin1_without_encoding_names_the_line_and_suggests_encoding(engine: Engine) -> None:
    before = dump(engine)
    with pytest.raises(NewsletterError) as raised:
        run(engine, CSV / "latin1.csv")

    assert raised.value.line == 2
    assert raised.value.path == CSV / "latin1.csv"
    assert "cannot decode the file as UTF-8" in raised.value.message
    assert raised.value.hint and "--encoding" in raised.value.hint
    assert dump(engine) == before


def test_semicolons_header_aliases_and_first_and_last_name(engine: Engine) -> None:
    report = run(engine, CSV / "aliases-semicolon.csv")

    assert (report.created, report.invalid) == (2, [])
    found = subscribers(engine)
    joao = found["joao@example.com"]
    assert (joao["name"], joao["locale"], joao["timezone"]) == (
        "João Silva",
        "pt_BR",
        "America/Sao_Paulo",
    )
    assert (joao["tags"], joao["attributes"]) == ({"weekly", "beta"}, {"Company": "Acme"})
    chloe = found["chloe@example.com"]
    assert (chloe["name"], chloe["timezone"], chloe["tags"], chloe["attributes"]) == (
        "Chloé",
        "Europe/Berlin",
        set(),
        {},
    )


def test_tabs_more_aliases_and_status(engine: Engine) -> None:
    report = run(engine, CSV / "aliases-tab.tsv")

    assert (report.created, report.invalid) == (2, [])
    found = subscribers(engine)
    noor = found["noor@example.com"]
    assert (noor["name"], noor["locale"], noor["timezone"], noor["status"]) == (
        "Noor Haddad",
        "ar",
        "Asia/Dubai",
        "active",
    )
    assert noor["tags"] == {"weekly", "events"}
    assert (found["ken@example.com"]["status"], found["ken@example.com"]["locale"]) == (
        "pending",
        "ja",
    )


def test_mapping_overrides_the_header_and_can_drop_columns(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(
        "Kontakt,Anrede,Notes,Email\nkim@example.com,Kim,vip,kim@example.org\n", encoding="utf-8"
    )

    run(engine, source, mapping={"Kontakt": "email", "anrede": "name", "Notes": "ignore"})

    (kim,) = subscribers(engine).values()
    assert (kim["email"], kim["name"], kim["attributes"]) == (
        "kim@example.com",
        "Kim",
        {"Email": "kim@example.org"},
    )


@pytest.mark.parametrize("batch_size", [5000, 1])
def test_duplicates_merge_case_insensitively_in_the_file_and_with_existing_rows(
    engine: Engine, tmp_path: Path, batch_size: int
) -> None:
    existing = tmp_path / "existing.csv"
    existing.write_text("email,name,locale,tags\nBOB@example.com,Bob,en,events\n", encoding="utf-8")
    run(engine, existing)

    report = run(engine, CSV / "duplicates.csv", batch_size=batch_size, now=LATER)

    assert (report.rows, report.created, report.updated, report.duplicates) == (4, 1, 1, 2)
    found = subscribers(engine)
    assert sorted(found) == ["ann@example.com", "bob@example.com"]
    ann = found["ann@example.com"]
    assert (ann["email"], ann["name"], ann["locale"]) == ("Ann@example.com", "Ann Lee", "fr")
    assert (ann["tags"], ann["attributes"]) == ({"weekly", "beta"}, {"company": "ACME"})
    bob = found["bob@example.com"]
    assert (bob["email"], bob["name"], bob["locale"], bob["tags"]) == (
        "BOB@example.com",
        "Bob",
        "de",
        {"events", "weekly"},
    )
    assert (bob["created_at"], bob["updated_at"]) == (NOW, LATER)


def test_suppressed_addresses_are_never_created_or_reactivated(
    engine: Engine, tmp_path: Path
) -> None:
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("email,name\nleft@example.com,Left\n", encoding="utf-8")
    run(engine, earlier)
    with engine.begin() as connection:
        connection.execute(update(TABLES["subscriber"]).values(status="unsubscribed"))
        connection.execute(
            insert(TABLES["suppression"]),
            [{"email_hash": address_hash("gone@example.com"), "reason": "complained", "at": NOW}],
        )

    report = run(engine, CSV / "suppression.csv", now=LATER)

    assert (report.rows, report.suppressed, report.created, report.updated) == (6, 4, 1, 1)
    found = subscribers(engine)
    assert sorted(found) == ["left@example.com", "maybe@example.com"]
    assert (found["left@example.com"]["status"], found["left@example.com"]["name"]) == (
        "unsubscribed",
        "Left Again",
    )
    assert found["maybe@example.com"]["status"] == "pending"
    with engine.connect() as connection:
        table = TABLES["suppression"]
        reasons = dict(connection.execute(select(table.c.email_hash, table.c.reason)).all())
    assert reasons == {
        address_hash("gone@example.com"): "complained",
        address_hash("quit@example.com"): "unsubscribed",
        address_hash("bounce@example.com"): "bounced",
    }


def test_an_unsubscribed_row_keeps_the_address_out_of_later_imports(engine: Engine) -> None:
    run(engine, CSV / "suppression.csv")
    retry = run(engine, CSV / "suppression.csv", now=LATER)

    assert "quit@example.com" not in subscribers(engine)
    assert (retry.suppressed, retry.created, retry.unchanged) == (3, 0, 3)


@pytest.mark.parametrize(
    "fixture",
    [
        "bad-rows.csv",
        "duplicates.csv",
        "suppression.csv",
        "aliases-semicolon.csv",
        "aliases-tab.tsv",
    ],
)
def test_reimporting_the_same_file_changes_nothing(engine: Engine, fixture: str) -> None:
    first = run(engine, CSV / fixture)
    before = dump(engine)

    again = run(engine, CSV / fixture, now=LATER)

    assert dump(engine) == before
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert (again.duplicates, again.invalid) == (first.duplicates, first.invalid)
    assert again.suppressed == first.suppressed


def latin1_on_line_402(folder: Path) -> Path:
    """A UTF-8 file of 600 readers but for one name in Latin-1, on line 402 (after batches)."""
    rows = [f"reader{n}@example.com,Reader {n},de,weekly\n" for n in range(600)]
    rows[400] = "zoe@example.com,Zo\xeb,de,weekly\n"
    source = folder / "mixed.csv"
    source.write_bytes(("email,name,locale,tags\n" + "".join(rows)).encode("latin-1"))
    return source


def test_a_decoding_error_in_the_middle_leaves_the_database_as_it_was(
    engine: Engine, tmp_path: Path
) -> None:
    run(engine, CSV / "duplicates.csv")
    before = dump(engine)
    source = latin1_on_line_402(tmp_path)
    processed: list[int] = []

    with pytest.raises(NewsletterError) as raised:
        run(engine, source, batch_size=50, progress=processed.append)

    assert sum(processed) >= 100  # Batches were written before the bad line was read ...
    assert dump(engine) == before  # ... and rolled back.
    assert raised.value.line == 402
    assert "bytes eb" in raised.value.message


def test_new_subscribers_get_a_consent_record_and_event(engine: Engine, tmp_path: Path) -> None:
    shutil.copy(CSV / "utf8-bom.csv", tmp_path / "signups.csv")

    run(engine, tmp_path / "signups.csv")

    with Session(engine) as session:
        zoe = session.exec(
            sqlmodel.select(Subscriber).where(Subscriber.email_key == "zoe@example.com")
        ).one()
        assert (zoe.status, zoe.consent_at, zoe.consent_method, zoe.consent_source) == (
            "active",
            NOW,
            "import",
            "signups.csv:3",
        )
        assert zoe.consent_at and zoe.consent_at.tzinfo is not None
        assert (zoe.created_at, zoe.updated_at, zoe.confirmed_at) == (NOW, NOW, None)
        events = session.exec(sqlmodel.select(ConsentEvent)).all()
    assert sorted(
        (event.subscriber_id, event.kind, event.method, event.source, event.at) for event in events
    ) == [
        ((zoe.id or 0) - 1, "import", "import", "signups.csv:2", NOW),
        (zoe.id, "import", "import", "signups.csv:3", NOW),
    ]


def test_tags_for_every_row_and_progress(engine: Engine) -> None:
    processed: list[int] = []

    report = run(
        engine, CSV / "bad-rows.csv", tags=["spring-fair"], batch_size=4, progress=processed.append
    )

    assert processed == [4, 4, 1]
    assert sum(processed) == report.rows
    assert all("spring-fair" in row["tags"] for row in subscribers(engine).values())


@pytest.mark.parametrize(
    ("content", "line", "message", "hint"),
    [
        (b"", None, "the file is empty", "header"),
        (b"\xef\xbb\xbf", None, "the file is empty", "header"),
        (
            b"Name,Phone\nAnn,123\n",
            1,
            "no email column: the header has 'Name', 'Phone'",
            '--map "Name=email"',
        ),
        (b"email,name\nann@example.com,Ann\n", 1, "--map names the column 'Mail'", "spelling"),
        (
            b'email,name\nann@example.com,"Ann\nbob@example.com,Bob\n',
            2,
            "cannot read the CSV",
            "close the quoted field",
        ),
    ],
)
def test_problems_with_the_whole_file_write_nothing(
    engine: Engine, tmp_path: Path, content: bytes, line: int | None, message: str, hint: str
) -> None:
    source = tmp_path / "list.csv"
    source.write_bytes(content)
    before = dump(engine)

    with pytest.raises(NewsletterError) as raised:
        run(engine, source, mapping={"Mail": "email"} if "Mail" in message else None)

    assert (raised.value.line, raised.value.path) == (line, source)
    assert message in raised.value.message
    assert raised.value.hint and hint in raised.value.hint
    assert dump(engine) == before


def test_an_export_imports_back_unchanged_and_into_a_new_database(
    engine: Engine, tmp_path: Path
) -> None:
    run(engine, CSV / "aliases-tab.tsv")
    run(engine, CSV / "aliases-semicolon.csv")
    exported = tmp_path / "export.csv"
    with Session(engine) as session, exported.open("w", encoding="utf-8", newline="") as out:
        export_csv(session, out)
    before = dump(engine)

    again = run(engine, exported, now=LATER)
    other = create_db_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    moved = run(other, exported, now=LATER)

    assert (again.rows, again.unchanged, dump(engine)) == (4, 4, before)
    assert moved.created == 4
    fields = ("email", "name", "locale", "timezone", "status", "tags")
    assert {key: [row[name] for name in fields] for key, row in subscribers(other).items()} == {
        key: [row[name] for name in fields] for key, row in subscribers(engine).items()
    }
    # Attributes travel as columns of their own; the consent columns do not become attributes.
    assert {key: row["attributes"] for key, row in subscribers(other).items()} == {
        key: row["attributes"] for key, row in subscribers(engine).items()
    }
    assert all("consent_method" not in row["attributes"] for row in subscribers(other).values())
    with Session(other) as session:
        ken = session.exec(
            sqlmodel.select(Subscriber).where(Subscriber.email_key == "ken@example.com")
        ).one()
        (event,) = session.exec(
            sqlmodel.select(ConsentEvent).where(ConsentEvent.subscriber_id == ken.id)
        ).all()
    assert (ken.consent_at, ken.consent_source) == (LATER, "export.csv:3")
    assert event.details == {
        "earlier": {
            "created_at": NOW.isoformat(),
            "consent_at": NOW.isoformat(),
            "consent_method": "import",
            "consent_source": "aliases-tab.tsv:3",
        }
    }


def test_a_file_name_that_is_not_utf8_or_a_latin1_file_is_one_line_and_nothing_imported(
    tmp_path: Path,
) -> None:
    """A real `newsletter subscribers import` on Linux, where a file name is bytes."""
    import os
    import subprocess
    import sys

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'database_url = "sqlite:///news.db"\nlocales = ["en", "de"]\n', encoding="utf-8"
    )

    def newsletter(*args: str | bytes) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            cwd=tmp_path,
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            check=False,
        )
        return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace")

    migrated(f"sqlite:///{tmp_path / 'news.db'}")  # What `db upgrade` makes (not under test).
    latin1 = tmp_path / os.fsdecode(b"mitglieder-\xe4.csv")  # "ä" in Latin-1: not UTF-8.
    rows = "email,name\nbob@example.org,Bob\nana@example.org,Jos\xe9\n"
    latin1.write_bytes(rows.encode("latin-1"))
    code, output = newsletter("subscribers", "import", b"mitglieder-\xe4.csv")
    assert code == 1 and "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert lines == [
        "error: mitglieder-\\xe4.csv:3: cannot decode the file as UTF-8: bytes e9 on this line",
        "  fix: give the file's encoding, e.g. --encoding cp1252 (Excel on Windows) or "
        "--encoding latin-1",
    ], output
    engine = create_db_engine(f"sqlite:///{tmp_path / 'news.db'}")
    with Session(engine) as session:  # Bob was not imported either.
        assert session.exec(sqlmodel.select(Subscriber)).all() == []

    code, output = newsletter(
        "subscribers", "import", b"mitglieder-\xe4.csv", "--encoding", "latin-1"
    )
    assert code == 0 and "Traceback" not in output, output
    with Session(engine) as session:
        found = {
            s.email: (s.name, s.consent_source) for s in session.exec(sqlmodel.select(Subscriber))
        }
    engine.dispose()
    assert found == {
        "bob@example.org": ("Bob", "mitglieder-\\xe4.csv:2"),
        "ana@example.org": ("José", "mitglieder-\\xe4.csv:3"),
    }
