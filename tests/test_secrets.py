"""A password in database_url (in the user part or as `password=`) never shows: not in
`newsletter config`, not in a database error, however the password is written; a refused SMTP
login names no password in its reply or the log."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.config import Project
from newsletter.deliver.transports import open_transport
from newsletter.errors import NewsletterError

from .test_delivery import SECRET, make_project
from .test_smtp_tls import MESSAGE, USER, tls_server  # noqa: F401 (a fixture)

PASSWORD = "pa@ss/w0rd-Zq9SPW"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Database URLs with a password. {port} is a free port, taken when the test runs: a test's id
# must be the same in every pytest-xdist worker.
URLS = [
    "postgresql+psycopg://news:pa-Zq9SPW@127.0.0.1:{port}/news",
    "postgresql+psycopg://news:pa%40ss%2Fw0rd-Zq9SPW@127.0.0.1:{port}/news",
    "postgresql+psycopg://news@127.0.0.1:{port}/news?password=pa%40-Zq9SPW",
    "postgresql+psycopg://news@127.0.0.1:{port}/news?sslmode=disable&PASSWORD=pa-Zq9SPW",
    "mysql://news:pa%40ss%2Fw0rd-Zq9SPW@127.0.0.1/news",
    "postgresql+psycopg://news:pa-Zq9SPW@127.0.0.1:port/news",
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = make_project(tmp_path, "null:")
    monkeypatch.chdir(made.root)
    return made


def newsletter(project: Project, url: str, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        ["--config", str(project.source), *args],
        env={"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_DATABASE_URL": url},
    )


@pytest.mark.parametrize("template", URLS)
def test_no_password_in_the_database_url_is_ever_shown(project: Project, template: str) -> None:
    url = template.format(port=free_port())
    shown = newsletter(project, url, "config")
    assert shown.exit_code == 0, shown.output
    assert "Zq9SPW" not in shown.output and "***" in shown.output, shown.output
    for command in (["db", "status"], ["subscribers", "list"], ["status", "x"]):
        result = newsletter(project, url, *command)
        assert result.exit_code == 1, (command, result.output)
        assert "Zq9SPW" not in result.output and "w0rd" not in result.output, result.output
        assert "***" in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize(
    "url", [f"postgresql+psycopg://news:{PASSWORD}@127.0.0.1/news", f"mysql://n:{PASSWORD}@h/n"]
)
def test_an_unencoded_at_or_slash_in_the_password_is_refused_without_showing_it(
    project: Project, url: str
) -> None:
    result = newsletter(project, url, "config")
    assert result.exit_code == 1
    assert "error: environment NEWSLETTER_DATABASE_URL: its user part holds an unencoded @" in (
        result.output
    )
    assert "Zq9SPW" not in result.output and "w0rd" not in result.output, result.output


def test_a_refused_smtp_login_shows_no_password(
    tls_server: tuple[int, object],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, _ = tls_server
    wrong = "wrong-Zq9SPW-password"
    secrets = {"NEWSLETTER_SMTP_USERNAME": USER, "NEWSLETTER_SMTP_PASSWORD": wrong}
    caplog.set_level(logging.DEBUG)
    said = ""
    try:
        transport = open_transport(f"smtp://127.0.0.1:{port}?starttls=require", secrets, tmp_path)
        try:
            result = transport.send("a@example.org", "b@example.org", MESSAGE)
        finally:
            transport.close()
        assert result.state != "sent"
        said = result.reply
    except NewsletterError as error:
        said = str(error)
    assert "535" in said, said  # The refusal itself is reported, not a timeout.
    assert "Zq9SPW" not in said and "Zq9SPW" not in caplog.text, (said, caplog.text)
