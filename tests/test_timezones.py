"""Time zones, wherever a person writes one (the subscribe and preferences forms, a CSV import,
`subscribers add`, `schedule --tz`, the configuration): IANA keys only, checked by one
function; anything else (a path, a file of the zoneinfo folder that is not a zone, empty,
spaces) is refused with one message naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from newsletter.config import load_project
from newsletter.db import create_db_engine, database_url
from newsletter.errors import NewsletterError
from newsletter.subscribers import registry
from newsletter.subscribers.csv_import import import_csv
from newsletter.subscribers.models import Subscriber
from newsletter.subscribers.tokens import Tokens
from newsletter.timezones import InvalidTimeZone, is_time_zone, time_zone
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_confirmations import SECRET, _project
from .test_delivery import make_project, newsletter

BAD = [
    "../etc/passwd",
    "/usr/share/zoneinfo/UTC",
    "Europe/../UTC",
    "localtime",
    "posixrules",
    "posix/Europe/Berlin",
    "right/UTC",
    "zone.tab",
    "tzdata.zi",
    "",
    " ",
    "\t",
    " Europe/Berlin",
    "Europe/Berlin\n",
    "Mars/Olympus",
]


@pytest.mark.parametrize("value", BAD)
def test_one_function_refuses_what_is_not_an_iana_key(value: str) -> None:
    with pytest.raises(InvalidTimeZone) as refused:
        time_zone(value, "timezone")
    assert str(refused.value).startswith(f"timezone: {value!r} is not an IANA time zone")
    assert "\n" not in str(refused.value)


def test_iana_keys_in_any_capitalization_come_back_canonical() -> None:
    assert time_zone("Europe/Berlin", "timezone") == "Europe/Berlin"
    assert time_zone("europe/berlin", "timezone") == "Europe/Berlin"
    assert time_zone("UTC", "timezone") == "UTC"
    assert time_zone("Asia/Calcutta", "timezone") == "Asia/Calcutta"  # An old name still works.


@pytest.mark.parametrize("value", BAD)
def test_every_way_in_refuses_it_naming_the_field(
    tmp_path: Path, smtp_server: SmtpServer, value: str
) -> None:
    with pytest.raises(registry.InvalidProfile) as refused:
        registry.make_profile("a@example.org", "", "en", value or " ", (), ["en"], "en", "UTC")
    assert refused.value.field == "timezone"

    csv = tmp_path / "readers.csv"
    csv.write_text(f'email,timezone\na@example.org,"{value}"\n', encoding="utf-8")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'import.db'}")
    from newsletter.db_schema import upgrade

    upgrade(engine)
    report = import_csv(engine, csv, locales=["en"], default_locale="en", default_timezone="UTC")
    if value.strip() and not is_time_zone(
        value.strip()
    ):  # Cells are read stripped; empty: the default.
        [(line, problem)] = [(row.line, row.reason) for row in report.invalid]
        assert line == 2 and problem.startswith(f"timezone: {value.strip()!r} is not an IANA")
    engine.dispose()

    config = tmp_path / "config.toml"
    config.write_text(f"timezone = {value!r}\n".replace("'", '"'), encoding="utf-8")
    with pytest.raises(NewsletterError) as refused_config:
        load_project(config, environ={})
    assert "timezone: " in str(refused_config.value)
    assert "is not an IANA time zone" in str(refused_config.value)


@pytest.mark.parametrize("value", ["../etc/passwd", "localtime", "posixrules", " ", ""])
def test_schedule_tz_refuses_it_in_one_line(
    tmp_path: Path, smtp_server: SmtpServer, value: str
) -> None:
    project = make_project(tmp_path, smtp_server.url, readers=[])
    code, output = newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", value)
    assert code == 1 and output.startswith(f"error: --tz: {value!r} is not an IANA time zone")
    assert "fix: " in output and "Traceback" not in output


@pytest.mark.parametrize("value", ["../etc/passwd", "localtime", "posixrules", " "])
def test_the_forms_refuse_it(tmp_path: Path, smtp_server: SmtpServer, value: str) -> None:
    project = _project(tmp_path, smtp_server)
    client = TestClient(create_app(project))
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        profile = registry.make_profile("a@example.org", "", "en", "", (), ["en"], "en", "UTC")
        subscriber = registry.add(
            session, profile, status="active", method="t", source="t", now=None
        )  # type: ignore[arg-type]
        session.commit()
        token = Tokens(SECRET).make("preferences", subscriber)
    page = client.get(f"/preferences/{token}").text
    assert 'value="localtime"' not in page and 'value="posixrules"' not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    answer = client.post(
        f"/preferences/{token}",
        data={"locale": "en", "timezone": value, "csrf": csrf.group(1)},
    )
    assert answer.status_code == 400 and "Please choose a time zone from the list." in answer.text
    # The subscribe form's time zone comes from the browser, hidden: one it cannot use is
    # replaced by the newsletter's, never stored.
    form = client.get("/subscribe").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    client.post(
        "/subscribe", data={"email": "b@example.org", "timezone": value, "csrf": csrf.group(1)}
    )
    with Session(engine) as session:
        zones = {s.email: s.timezone for s in session.exec(select(Subscriber))}
    assert zones == {"a@example.org": "UTC", "b@example.org": "Europe/Berlin"}
