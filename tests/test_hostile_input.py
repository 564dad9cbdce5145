"""Hostile subscriber values on SQLite and on a real PostgreSQL cluster: control characters in
CSV rows, forms and the command line; formula cells in exports (and back in imports)."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from newsletter.cli import app as cli
from newsletter.config import Project, load_project
from newsletter.db import create_db_engine
from newsletter.db_schema import upgrade
from newsletter.errors import NewsletterError
from newsletter.subscribers import registry
from newsletter.subscribers.csv_import import import_csv
from newsletter.subscribers.export import export_csv
from newsletter.subscribers.models import ConsentEvent, Subscriber, Tag
from newsletter.subscribers.tokens import Tokens
from newsletter.web.app import create_app

from .conftest import LOCALES, SmtpServer

# The fixture `engine`: a migrated SQLite file, then a database in a real PostgreSQL cluster.
from .test_postgres import cluster, database, either_engine  # noqa: F401  (fixtures)

SECRET = "test-secret-key-0123456789abcdef"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SETTINGS: dict[str, Any] = {
    "locales": LOCALES,
    "default_locale": "en",
    "default_timezone": "Europe/Berlin",
    "now": NOW,
}
HEADER = [
    "email",
    "name",
    "locale",
    "timezone",
    "tags",
    "status",
    "company",
    "notes",
    "consent_source",
]


def _row(email: str, **values: str) -> list[str]:
    return [email, *(values.get(name, "") for name in HEADER[1:])]


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _stored_text(engine: Engine) -> str:
    """Every text value of the subscriber tables, joined: what a control character could hide in."""
    queries = [
        "SELECT email, name, locale, timezone, status, consent_source FROM subscriber",
        "SELECT name FROM tag",
        "SELECT source FROM consent_event",
    ]
    with engine.connect() as connection:
        values = [
            str(v) for query in queries for row in connection.execute(text(query)) for v in row
        ]
        values += [str(row.attributes) for row in connection.execute(select(Subscriber))]
        values += [
            str(row.details)
            for row in connection.execute(text("SELECT details FROM consent_event"))
        ]
    return "\n".join(values)


CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def test_control_characters_refuse_their_row_and_the_rest_is_imported(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [
        _row("ann@example.org", name="Ann\x00Lee"),
        _row("bob@example.org", name="Bob", tags="weekly;be\x1bta"),
        _row("cy@example.org", locale="de\x07"),
        _row("di@example.org", timezone="Europe/Berlin\x00"),
        _row("ed@example.org", company="AC\x85ME"),
        _row("fi@example.org", consent_source="web\x00form"),
        _row("gi\x00l@example.org", name="Gil"),
        _row("hu@example.org", name="Hu\u2028Go"),
        _row("jo@example.org", status="act\x00ive"),
        _row("kim@example.org", name="Kim\x7f", tags="weekly"),
        _row("lu@example.org", name="Lu\rLu"),
        _row("ok@example.org", name="Okay", tags="weekly", company="ACME", consent_source="web"),
        # Tabs and line breaks are text in a free-form attribute (a quoted cell over two lines).
        _row("ok2@example.org", name="Also Fine", notes="line one\nline two\twith a tab"),
    ]
    report = import_csv(engine, _write(tmp_path / "hostile.csv", rows), **SETTINGS)
    reported = [(row.line, row.reason) for row in report.invalid]
    assert reported == [
        (2, "name: contains a control character (U+0000) at character 4; remove it"),
        (3, "tags: contains a control character (U+001B) at character 10; remove it"),
        (4, "locale: contains a control character (U+0007) at character 3; remove it"),
        (5, "timezone: contains a control character (U+0000) at character 14; remove it"),
        (6, "company: contains a control character (U+0085) at character 3; remove it"),
        (7, "consent_source: contains a control character (U+0000) at character 4; remove it"),
        (8, reported[6][1]),
        (10, "status: contains a control character (U+0000) at character 4; remove it"),
        (11, "name: contains a control character (U+007F) at character 4; remove it"),
    ]
    assert reported[6][1].startswith("email: 'gi\\x00l@example.org' is not valid")
    assert (report.rows, report.created) == (13, 4)
    with Session(engine) as session:
        stored = {row.email: row for row in session.exec(select(Subscriber))}
        assert stored.keys() == {
            "hu@example.org",
            "lu@example.org",
            "ok@example.org",
            "ok2@example.org",
        }
        # Line breaks in a name become spaces, as in the forms; attributes keep them.
        assert (stored["hu@example.org"].name, stored["lu@example.org"].name) == ("Hu Go", "Lu Lu")
        assert stored["ok2@example.org"].attributes == {"notes": "line one\nline two\twith a tab"}
        assert registry.tags_of(session, stored["ok@example.org"]) == ["weekly"]
    assert not CONTROL.search(_stored_text(engine))


def test_a_header_or_tag_with_a_control_character_stops_the_import(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [_row("ok@example.org", name="Okay")]
    header = [*HEADER[:-1], "consent\x00source"]
    with pytest.raises(
        NewsletterError, match=r"column 9 'consent\\x00source': the name contains"
    ) as raised:
        import_csv(engine, _write(tmp_path / "header.csv", rows, header), **SETTINGS)
    assert raised.value.line == 1
    with pytest.raises(NewsletterError, match=r"--tag 'bad\\x1btag' contains a control character"):
        import_csv(engine, _write(tmp_path / "ok.csv", rows), **SETTINGS, tags=["bad\x1btag"])
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM subscriber")).scalar_one() == 0


def test_lone_surrogates_cannot_arrive_in_a_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.csv"
    path.write_bytes(b"email,name\nok@example.org,Okay\nann@example.org,Ann\xed\xa0\x80\n")
    with pytest.raises(NewsletterError, match="cannot decode the file as UTF-8") as raised:
        import_csv(engine, path, **SETTINGS)
    assert raised.value.line == 3


# -- Forms -----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'name = "AI Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\nlocales = ["en", "de", "ar"]\n'
        f'timezone = "Europe/Berlin"\ntransport_url = "{smtp_server.url}"\n',
        encoding="utf-8",
    )
    return load_project(
        tmp_path / "config" / "newsletter.toml", environ={"NEWSLETTER_SECRET_KEY": SECRET}
    )


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _problem(page: str) -> str:
    match = re.search(r'<p class="nl-error" id="problem" role="alert">(.*?)</p>', page)
    assert match, page
    return match.group(1)


def test_the_subscribe_form_names_the_field_that_holds_a_control_character(
    engine: Engine, project: Project, smtp_server: SmtpServer
) -> None:
    app = create_app(project, engine=engine, clock=lambda: NOW)
    name_problem = "Please enter a name of at most 200 characters, without control characters."
    hostile = ["Ann\x00Lee", "Ann\x1b[31mLee", "Ann\x9bLee", "Ann\x7fLee"]
    for number, name in enumerate(hostile):
        client = TestClient(app, client=(f"198.51.100.{number}", 40000))
        form = {"email": f"a{number}@example.org", "name": name}
        answer = client.post(
            "/subscribe", data={**form, "csrf": _csrf(client.get("/subscribe").text)}
        )
        assert answer.status_code == 400, name
        assert _problem(answer.text) == name_problem
        invalid = r'id="name"[^>]* aria-invalid="true" aria-describedby="problem"'
        assert re.search(invalid, answer.text)
        assert re.search("Ann\ufffd+(\\[31m)?Lee", answer.text), answer.text
    # Bytes that are not UTF-8 are read as Latin-1: a C1 control character arrives that way.
    client = TestClient(app, client=("198.51.100.50", 40000))
    body = (
        b"email=c1%40example.org&name=Ann\x9bLee&csrf="
        + _csrf(client.get("/subscribe").text).encode()
    )
    latin = client.post("/subscribe", content=body, headers=FORM)
    assert latin.status_code == 400 and _problem(latin.text) == name_problem
    nul = {"email": "b\x00b@example.org", "csrf": _csrf(client.get("/subscribe").text)}
    nul_address = client.post("/subscribe", data=nul)
    assert nul_address.status_code == 400
    assert _problem(nul_address.text) == "Please enter a valid email address."
    assert 'id="email"' in nul_address.text and "\x00" not in nul_address.text
    with Session(engine) as session:
        assert session.exec(select(Subscriber)).all() == []
    assert smtp_server.received == []


def test_a_lone_surrogate_in_a_form_arrives_as_replacement_characters(
    engine: Engine, project: Project, smtp_server: SmtpServer
) -> None:
    client = TestClient(create_app(project, engine=engine, clock=lambda: NOW))
    form = {"email": "ann@example.org", "name": "Ann\udcffLee"}
    body = urlencode({**form, "csrf": _csrf(client.get("/subscribe").text)}, errors="surrogatepass")
    assert client.post("/subscribe", content=body, headers=FORM).status_code == 200
    with Session(engine) as session:
        assert [row.name for row in session.exec(select(Subscriber))] == [
            "Ann\ufffd\ufffd\ufffdLee"
        ]
    assert len(smtp_server.received) == 1


def test_the_preferences_form_names_the_field_it_refuses(engine: Engine, project: Project) -> None:
    with Session(engine) as session:
        profile = registry.make_profile(
            "dee@example.org", "Dee", "en", None, ["weekly"], LOCALES, "en", "UTC"
        )
        subscriber = registry.add(
            session, profile, status="active", method="test", source="test", now=NOW
        )
        session.commit()
        session.refresh(subscriber)
    client = TestClient(create_app(project, engine=engine, clock=lambda: NOW))
    path = f"/preferences/{Tokens(SECRET).make('preferences', subscriber)}"
    csrf = _csrf(client.get(path).text)
    good = {"locale": "de", "timezone": "Asia/Tokyo", "tags": ["weekly"], "csrf": csrf}
    cases = {
        "Please choose a language from the list.": {"locale": "de\x00"},
        "Please choose a time zone from the list.": {"timezone": "Asia/Tokyo\x00"},
        "Please choose topics from the list.": {"tags": ["weekly", "we\x00ekly"]},
    }
    for problem, bad in cases.items():
        answer = client.post(path, data={**good, **bad})
        assert answer.status_code == 400 and _problem(answer.text) == problem
    with Session(engine) as session:
        stored = session.get(Subscriber, subscriber.id)
        assert stored is not None and (stored.locale, stored.timezone) == ("en", "UTC")
        assert session.exec(select(Tag.name)).all() == ["weekly"]
    assert client.post(path, data=good).status_code == 200


def test_the_command_line_refuses_what_a_terminal_cannot_encode(project: Project) -> None:
    """Bytes that are not UTF-8 on the command line arrive as lone surrogates (surrogateescape)."""
    upgrade(create_db_engine(f"sqlite:///{project.root / 'newsletter.db'}"))
    config = str(project.source)
    for name, problem in [
        ("Ann\udcffLee", "name: contains a lone surrogate (U+DCFF) at character 4"),
        ("Ann\x00Lee", "name: contains a control character (U+0000) at character 4"),
    ]:
        result = CliRunner().invoke(
            cli, ["--config", config, "subscribers", "add", "ann@example.org", "--name", name]
        )
        assert result.exit_code == 1 and problem in result.output, result.output
        assert "Traceback" not in result.output


# -- Formulas in exports ---------------------------------------------------------------------

# What a spreadsheet would run, or skip whitespace to run; and quotes that must survive as typed.
FORMULAS = ["=cmd|'/c calc'!A1", "+1 555 0100", "-5", "@SUM(A1:A9)", "=", "'=already quoted"]
QUOTES = ["'quoted", "''+double", "O'Brien", "'", "plain"]
ATTRIBUTE_VALUES = [*FORMULAS, *QUOTES, "\t=1+1", "\r=1+1", "\n=2+2", "-", '=HYPERLINK("x")']
# Tags are separated by `,` `;` and `|` in a cell, so none holds one.
TAGS = ["=SUM(1)", "+tag", "-tag", "@tag", "'=tag", "'quoted", "O'Brien", "plain", "=", "-", "'"]


def _hostile_subscribers(engine: Engine) -> None:
    """Subscribers whose every text field a spreadsheet would run as a formula."""
    addresses = ["=eq@example.org", "+plus@example.org", "-dash@example.org", "quote@example.org"]
    names = [*FORMULAS, *QUOTES]
    with Session(engine) as session:
        for number, name in enumerate(names):
            profile = registry.make_profile(
                addresses[number % len(addresses)].replace("@", f"{number}@"),
                name,
                "en",
                None,
                [TAGS[number], TAGS[-1 - number], "@weekly"],
                LOCALES,
                "en",
                "UTC",
            )
            subscriber = registry.add(
                session, profile, status="active", method="test", source="-import", now=NOW
            )
            subscriber.attributes = {
                '=HYPERLINK("http://evil.example")': ATTRIBUTE_VALUES[number],
                "notes": ATTRIBUTE_VALUES[-1 - number],
            }
        session.commit()


def _everything(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with Session(engine) as session:
        return {
            row.email: (row.name, tuple(registry.tags_of(session, row)), row.attributes)
            for row in session.exec(select(Subscriber))
        }


def test_an_export_neutralises_formulas_and_imports_back_without_loss(
    engine: Engine, tmp_path: Path
) -> None:
    _hostile_subscribers(engine)
    exported = tmp_path / "export.csv"
    with Session(engine) as session, exported.open("w", encoding="utf-8", newline="") as out:
        assert export_csv(session, out) == len(FORMULAS) + len(QUOTES)
    with exported.open(encoding="utf-8", newline="") as stream:
        cells = [cell for row in csv.reader(stream) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r", "\n")]
    assert "'=cmd|'/c calc'!A1" in cells and "'\t=1+1" in cells and "'-5" in cells
    assert "''=already quoted" in cells  # One quote more than the value has.
    assert "'quoted" in cells and "O'Brien" in cells  # A quote before text is left alone.
    assert '\'=HYPERLINK("http://evil.example")' in cells  # The header too.

    other = create_db_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    moved = import_csv(other, exported, **SETTINGS)
    again = import_csv(engine, exported, **SETTINGS)
    assert (moved.created, moved.invalid, again.unchanged) == (11, [], 11)
    assert _everything(other) == _everything(engine)
    with Session(other) as session:
        sources = {
            row.details["earlier"]["consent_source"] for row in session.exec(select(ConsentEvent))
        }
    assert sources == {"-import"}
    other.dispose()
