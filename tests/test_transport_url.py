"""transport_url is checked when the configuration loads: host, port, every option and its bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_project
from newsletter.deliver.smtp import SmtpTransport
from newsletter.deliver.transports import open_transport, transport_limits
from newsletter.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    (root / "issues").mkdir()
    for variable in [name for name in os.environ if name.startswith("NEWSLETTER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(root)
    return root


def load_with(project: Path, url: str) -> ConfigError:
    path = project / "config" / "newsletter.toml"
    path.write_text(f'name = "Weekly"\ntransport_url = "{url}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})
    return caught.value


# (URL, what the message must say): each is refused when the configuration loads.
REFUSED = [
    ("smtp://mail.example.org:notaport", "port 'notaport' must be a number from 1 to 65535"),
    ("smtp://mail.example.org:0", "port '0' must be a number from 1 to 65535"),
    ("smtp://mail.example.org:65536", "port '65536' must be a number from 1 to 65535"),
    ("smtp://mail.example.org:-25", "must be a number from 1 to 65535"),
    ("smtp://mail.example.org:+25", "must be a number from 1 to 65535"),
    ("smtps://[::1]:99999", "must be a number from 1 to 65535"),
    ("smtp://:25", "names no host"),
    ("smtp://mail..example.org", "is not a host name or IP address"),
    ("smtp://-mail.example.org", "is not a host name or IP address"),
    ("smtp://exa mple:25", "holds a space or control character"),
    ("smtp://exa\tmple:25", "holds a space or control character"),
    ("smtp://-bad-:25", "host '-bad-' is not a host name or IP address, such as"),
    ("smtp://exa%20mple:25", "is not a host name or IP address"),
    ("smtp://:25", "names no host"),
    ("smtp://[::1", "is not a valid URL"),
    ("smtp:mail.example.org", "write it as smtp://host:port"),
    ("smtp://host/outbox", "'/outbox' after the host"),
    ("smtp://user:hunter2@host", "set NEWSLETTER_SMTP_PASSWORD"),
    ("smtp://host?connections=100000", "connections=100000: must be a whole number from 1 to 64"),
    ("smtp://host?connections=0", "connections=0: must be a whole number from 1 to 64"),
    ("smtp://host?connections=2.5", "connections=2.5: must be a whole number from 1 to 64"),
    ("smtp://host?connections=", "connections=: must be a whole number from 1 to 64"),
    ("smtp://host?rate=0", "rate=0: must be a number of messages per second from 0.01 to 100000"),
    ("smtp://host?rate=-5", "rate=-5: must be a number of messages per second"),
    ("smtp://host?rate=nan", "rate=nan: must be a number of messages per second"),
    ("smtp://host?rate=inf", "rate=inf: must be a number of messages per second"),
    ("smtp://host?rate=1e9", "rate=1e9: must be a number of messages per second"),
    ("smtp://host?rate=fast", "rate=fast: must be a number of messages per second"),
    ("smtp://host?timeout=0", "timeout=0: must be a number of seconds from 1 to 600"),
    ("smtp://host?timeout=86400", "timeout=86400: must be a number of seconds from 1 to 600"),
    ("smtp://host?starttls=yes", "starttls=yes: must be require or auto"),
    ("smtps://host?starttls=require", "starttls applies to smtp:// only"),
    ("smtp://host?conections=2", "unknown option 'conections': did you mean connections?"),
    ("smtp://host?pool=2", "unknown option 'pool': the options are connections, rate, timeout"),
    ("smtp://host?rate=5&rate=6", "option rate is given 2 times"),
    ("smtp://host?connections", "are not name=value pairs"),
    ("eml:", "eml: needs a folder after the colon"),
    ("eml:outbox?connections=2", "eml: takes a folder and no options"),
    ("mbox:", "mbox: needs a file after the colon"),
    ("mbox:exports/", "mbox: needs a file name, not a folder"),
    ("null:now", "null: takes nothing after the colon"),
    ("ftp://host", "must start with one of smtp:, smtps:, eml:, mbox:, null:"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_a_bad_transport_url_is_refused_when_the_configuration_loads(
    project: Path, url: str, message: str
) -> None:
    error = load_with(project, url)

    assert error.message.startswith("config/newsletter.toml:2: transport_url: ")
    assert message in error.message
    assert "hunter2" not in error.message


def test_an_eml_folder_that_is_a_file_or_an_mbox_that_is_a_folder_is_refused(
    project: Path,
) -> None:
    (project / "outbox").write_text("not a folder", encoding="utf-8")
    (project / "exports").mkdir()

    eml = load_with(project, "eml:outbox")
    mbox = load_with(project, "mbox:exports")
    below_a_file = load_with(project, "mbox:outbox/all.mbox")

    assert eml.message.startswith("config/newsletter.toml:2: transport_url: eml:outbox: ")
    assert "is a file; eml: needs a folder" in eml.message
    assert "is a folder; mbox: needs a file" in mbox.message
    assert "outbox is a file, not a folder" in below_a_file.message


def test_the_environment_variable_is_named_when_it_holds_the_bad_url(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(None, environ={"NEWSLETTER_TRANSPORT_URL": "smtp://host:notaport"})

    assert caught.value.message.startswith("environment NEWSLETTER_TRANSPORT_URL: port")


def test_a_command_prints_one_line_and_no_traceback(project: Path) -> None:
    (project / "config" / "newsletter.toml").write_text(
        'name = "Weekly"\ntransport_url = "smtp://127.0.0.1:25?connections=100000"\n',
        encoding="utf-8",
    )

    result = CliRunner().invoke(app, ["send", "any-issue", "--dry-run"])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: config/newsletter.toml:2: transport_url: connections=100000: "
        "must be a whole number from 1 to 64"
    ]
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://localhost:25",
        "smtp://mail.example.org",
        "smtps://mail.example.org:465?connections=2&rate=0.5&timeout=10",
        "smtp://relay_1:2525?starttls=require",
        "smtp://[::1]:2525?connections=64&rate=100000",
        "smtp://user@bücher.example:587?starttls=auto",
        "SMTP://MAIL.example.org:25",
        "eml:outbox",
        "eml://var/spool/outbox",
        "mbox:exports/all.mbox",
        "null:",
    ],
)
def test_a_good_transport_url_loads(project: Path, url: str) -> None:
    path = project / "config" / "newsletter.toml"
    path.write_text(f'name = "Weekly"\ntransport_url = "{url}"\n', encoding="utf-8")

    assert load_project(path, environ={}).config.transport_url == url


def test_the_checked_values_are_the_ones_the_transport_uses(tmp_path: Path) -> None:
    url = "smtps://news@mail.example.org:2465?connections=3&rate=1.5&timeout=12"

    limits = transport_limits(url)
    transport = open_transport(url, {}, tmp_path)

    assert (limits.connections, limits.rate) == (3, 1.5)
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.tls) == ("mail.example.org", 2465, True)
    assert (transport.username, transport.timeout) == ("news", 12.0)
    assert transport_limits("smtp://mail.example.org").connections == 4
    assert open_transport("smtp://mail.example.org", {}, tmp_path).port == 25  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://exa mple.org", "holds a space or control character"),
        ("https://-bad-.org", "host '-bad-.org' is not a host name or IP address"),
        ("https://:8080", "names no host"),
        ("https://news..example.org", "is not a host name or IP address"),
        ("https://news.example.org:port", "its port must be a number"),
    ],
)
def test_base_url_hosts_are_checked_by_the_same_rule(project: Path, url: str, message: str) -> None:
    path = project / "config" / "newsletter.toml"
    path.write_text(f'name = "Weekly"\nbase_url = "{url}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})
    assert caught.value.message.startswith("config/newsletter.toml:2: base_url: ")
    assert message in caught.value.message
