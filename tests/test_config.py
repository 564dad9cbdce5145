"""The configuration: config/newsletter.toml, environment overrides, secrets, the project folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.config import Config, load_project
from newsletter.errors import ConfigError

FULL = """\
name = "AI Weekly"
base_url = "https://news.example.org/"
sender_name = "The Editors"
sender_address = "weekly@news.example.org"
reply_to = "editors@news.example.org"
postal_address = "AI Weekly, Friedrichstraße 123, 10117 Berlin, Germany"
default_locale = "de"
locales = ["en", "de", "pt-br"]
timezone = "Europe/Berlin"
min_translated_share = 0.8
database_url = "postgresql://news@localhost/news"
transport_url = "eml:outbox"
theme = "plain"
css_inliner = "css-inline"
issues_dir = "content/issues"
sequences_dir = "content/sequences"
archive_dir = "public"
journal_dir = "/var/lib/newsletter/journal"
archive_page_size = 10
feed_entries = 0
bounce_address = "bounces@bounces.news.example.org"
soft_bounce_limit = 5
soft_bounce_days = 14.0
tracking = "individual"
segments = { acme = 'company = "ACME"' }
fields = ["company", "plan"]
open_tracking = true
click_limit = 30
api_rate_limit = 90
unsubscribe_address = "leave@news.example.org"
retry_delay = 30.0
max_attempts = 5
dkim_selector = "news2026"
dkim_domain = "example.org"
editor_address = "Editors@News.example.org"
misfire_grace = 3600
leader_lease = 10
trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
logo = "assets/logo.png"
logo_alt = { en = "AI Weekly", pt-br = "AI Semanal" }
logo_width = 120
webhook_max_age = 600
ses_certificate = "config/sns.pem"
ses_topic_arns = ["arn:aws:sns:eu-west-1:123456789012:ses-feedback"]
inbound_listen = "127.0.0.1:2525"
inbound_spool = "var/inbound"
inbound_urls = ["imaps://bounces@imap.example.org/INBOX", "maildir:var/bounces"]
inbound_poll_seconds = 30
topics = { research = { en = "Research", pt-br = "Pesquisa" }, "week ly" = { de = "Woche" } }
"""

# Four field problems, one per line, plus an unknown key: all must be reported together.
BROKEN = """\
name = "AI Weekly"
base_url = "news.example.org"
timezone = "Mars/Olympus"
isues_dir = "issues"
locales = ["en", "zh"]
sender_address = "not-an-email"
"""
BROKEN_PROBLEMS = [
    "config/newsletter.toml:2: base_url: must be an absolute http(s) URL",
    "config/newsletter.toml:3: timezone: 'Mars/Olympus' is not an IANA time zone",
    "config/newsletter.toml:4: isues_dir: unknown key; did you mean issues_dir?",
    "config/newsletter.toml:6: sender_address: 'not-an-email' is not a valid email address",
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder, the working directory, with no NEWSLETTER_ variables set."""
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    (root / "issues").mkdir()
    for variable in [name for name in os.environ if name.startswith("NEWSLETTER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(root)
    return root


def write_config(project: Path, text: str, name: str = "config/newsletter.toml") -> Path:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def newsletter(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def shown(result: Result) -> dict[str, object]:
    """The `key = value` lines that `newsletter config` prints, values decoded."""
    pairs = (line.split(" = ", 1) for line in result.stdout.splitlines() if " = " in line)
    return {key: json.loads(value) for key, value in pairs if not key.startswith("#")}


def problems(error: ConfigError) -> list[str]:
    return error.message.splitlines()


def test_full_config_loads_every_key(project: Path) -> None:
    path = write_config(project, FULL)
    written = {line.split(" = ")[0] for line in FULL.splitlines()}
    assert written == set(Config.model_fields), "FULL should set every configuration key"

    loaded = load_project(path, environ={})

    expected = {
        "name": "AI Weekly",
        "base_url": "https://news.example.org",
        "sender_name": "The Editors",
        "sender_address": "weekly@news.example.org",
        "reply_to": "editors@news.example.org",
        "postal_address": "AI Weekly, Friedrichstraße 123, 10117 Berlin, Germany",
        "default_locale": "de",
        "locales": ["en", "de", "pt_BR"],
        "timezone": "Europe/Berlin",
        "min_translated_share": 0.8,
        "database_url": "postgresql://news@localhost/news",
        "transport_url": "eml:outbox",
        "theme": "plain",
        "css_inliner": "css-inline",
        "issues_dir": "content/issues",
        "sequences_dir": "content/sequences",
        "archive_dir": "public",
        "archive_page_size": 10,
        "feed_entries": 0,
        "bounce_address": "bounces@bounces.news.example.org",
        "soft_bounce_limit": 5,
        "soft_bounce_days": 14.0,
        "tracking": "individual",
        "segments": {"acme": 'company = "ACME"'},
        "fields": ["company", "plan"],
        "open_tracking": True,
        "click_limit": 30,
        "api_rate_limit": 90,
        "unsubscribe_address": "leave@news.example.org",
        "editor_address": "Editors@news.example.org",
        "misfire_grace": 3600.0,
        "leader_lease": 10.0,
        "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"],
        "retry_delay": 30.0,
        "max_attempts": 5,
        "dkim_selector": "news2026",
        "dkim_domain": "example.org",
        "logo": "assets/logo.png",
        "logo_alt": {"en": "AI Weekly", "pt_BR": "AI Semanal"},
        "logo_width": 120,
        "webhook_max_age": 600.0,
        "ses_certificate": "config/sns.pem",
        "ses_topic_arns": ["arn:aws:sns:eu-west-1:123456789012:ses-feedback"],
        "inbound_listen": "127.0.0.1:2525",
        "inbound_spool": "var/inbound",
        "journal_dir": "/var/lib/newsletter/journal",
        "inbound_urls": ["imaps://bounces@imap.example.org/INBOX", "maildir:var/bounces"],
        "inbound_poll_seconds": 30.0,
        "topics": {"research": {"en": "Research", "pt_BR": "Pesquisa"}, "week ly": {"de": "Woche"}},
    }
    assert loaded.config.model_dump() == expected
    assert loaded.source == path
    assert loaded.config.sender == "The Editors"

    result = newsletter("config")
    assert result.exit_code == 0, result.output
    assert "# configuration: config/newsletter.toml" in result.stdout
    assert shown(result) == expected


def test_every_problem_is_reported_at_once(project: Path) -> None:
    path = write_config(project, BROKEN)

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    listed = problems(caught.value)
    assert len(listed) == len(BROKEN_PROBLEMS), listed
    for problem in BROKEN_PROBLEMS:
        assert any(line.startswith(problem) for line in listed), (problem, listed)

    result = newsletter("--config", str(path), "config")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(BROKEN_PROBLEMS), result.stderr
    for problem in BROKEN_PROBLEMS:
        assert any(line.startswith(f"error: {problem}") for line in errors), (problem, errors)
    assert isinstance(result.exception, SystemExit)  # A clean exit, not a crash.


def test_default_locale_outside_locales_is_reported(project: Path) -> None:
    path = write_config(project, 'default_locale = "de"\nlocales = ["en", "zh"]\n')

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    [problem] = problems(caught.value)
    assert (
        problem
        == "config/newsletter.toml:1: default_locale: 'de' must be one of locales ['en', 'zh']"
    )


def test_default_locale_problem_is_reported_with_the_others(project: Path) -> None:
    path = write_config(project, BROKEN + 'default_locale = "de"\n')

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    listed = problems(caught.value)
    assert len(listed) == len(BROKEN_PROBLEMS) + 1, listed
    assert (
        "config/newsletter.toml:7: default_locale: 'de' must be one of locales ['en', 'zh']"
        in listed
    )


def test_invalid_toml_names_file_and_line(project: Path) -> None:
    path = write_config(project, 'name = "AI Weekly"\nbase_url = https://news.example.org\n')

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    assert caught.value.path == path
    assert caught.value.line == 2
    assert caught.value.message.startswith("invalid TOML")

    result = newsletter("--config", str(path), "config")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: config/newsletter.toml:2: invalid TOML")
    assert lines[1] == "  fix: fix the TOML syntax on that line"


def test_environment_overrides_the_file(project: Path) -> None:
    path = write_config(
        project,
        'name = "AI Weekly"\ndatabase_url = "sqlite:///file.db"\ntransport_url = "smtp://file:25"\n',
    )
    env = {
        "NEWSLETTER_DATABASE_URL": "postgresql://db.example.org/news",
        "NEWSLETTER_TRANSPORT_URL": "null:",
        "NEWSLETTER_LOCALES": "en, zh,pt-br",
    }

    config = load_project(path, environ=env).config

    assert config.database_url == "postgresql://db.example.org/news"
    assert config.transport_url == "null:"
    assert config.locales == ["en", "zh", "pt_BR"]
    assert config.name == "AI Weekly"  # Not overridden: still from the file.
    assert load_project(path, environ={}).config.database_url == "sqlite:///file.db"

    result = newsletter("config", env=env)
    assert result.exit_code == 0, result.output
    values = shown(result)
    assert values["database_url"] == "postgresql://db.example.org/news"
    assert values["transport_url"] == "null:"
    assert values["locales"] == ["en", "zh", "pt_BR"]


def test_invalid_environment_override_names_the_variable(project: Path) -> None:
    path = write_config(project, 'timezone = "Europe/Berlin"\n')
    env = {"NEWSLETTER_TIMEZONE": "Nowhere/Town"}

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ=env)

    assert problems(caught.value) == [
        "environment NEWSLETTER_TIMEZONE: 'Nowhere/Town' is not an IANA time zone "
        "such as Europe/Berlin"
    ]

    result = newsletter("config", env=env)
    assert result.exit_code == 1
    assert "error: environment NEWSLETTER_TIMEZONE: 'Nowhere/Town'" in result.stderr
    assert "config/newsletter.toml" not in result.stderr  # The file is fine.


def test_unknown_environment_variable_gets_a_suggestion(project: Path) -> None:
    path = write_config(project, 'name = "AI Weekly"\n')
    env = {"NEWSLETTER_TIMEZON": "Asia/Tokyo"}

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ=env)

    assert problems(caught.value) == [
        "environment NEWSLETTER_TIMEZON: unknown setting; did you mean NEWSLETTER_TIMEZONE?"
    ]

    result = newsletter("config", env=env)
    assert result.exit_code == 1
    assert "did you mean NEWSLETTER_TIMEZONE?" in result.stderr


def test_config_option_and_variable_select_another_file(project: Path) -> None:
    write_config(project, 'name = "Default Weekly"\n')
    other = write_config(project, 'name = "Other Weekly"\n', "elsewhere/other.toml")

    assert load_project(environ={}).config.name == "Default Weekly"
    assert load_project(other, environ={}).config.name == "Other Weekly"
    by_variable = load_project(environ={"NEWSLETTER_CONFIG": str(other)})
    assert by_variable.config.name == "Other Weekly"
    assert by_variable.source == other

    assert shown(newsletter("config"))["name"] == "Default Weekly"
    result = newsletter("--config", str(other), "config")
    assert shown(result)["name"] == "Other Weekly"
    assert "# configuration: elsewhere/other.toml" in result.stdout
    by_env = newsletter("config", env={"NEWSLETTER_CONFIG": str(other)})
    assert shown(by_env)["name"] == "Other Weekly"
    both = newsletter(
        "--config", "config/newsletter.toml", "config", env={"NEWSLETTER_CONFIG": str(other)}
    )
    assert shown(both)["name"] == "Default Weekly"  # The option wins over the variable.


@pytest.mark.parametrize("how", ["option", "variable"])
def test_missing_explicit_config_file_is_an_error(project: Path, how: str) -> None:
    write_config(project, 'name = "Default Weekly"\n')  # Must not be used instead.
    missing = project / "config" / "missing.toml"

    with pytest.raises(ConfigError) as caught:
        if how == "option":
            load_project(missing, environ={})
        else:
            load_project(environ={"NEWSLETTER_CONFIG": str(missing)})
    assert caught.value.path == missing
    assert "not found" in caught.value.message

    if how == "option":
        result = newsletter("--config", str(missing), "config")
    else:
        result = newsletter("config", env={"NEWSLETTER_CONFIG": str(missing)})
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error: config/missing.toml: configuration file not found"
    assert lines[1].startswith("  fix: create it, or point --config / NEWSLETTER_CONFIG")
    assert "Default Weekly" not in result.output


def test_without_a_config_file_defaults_apply(project: Path) -> None:
    loaded = load_project(environ={})

    assert loaded.source is None
    assert loaded.config == Config()
    assert loaded.root == project.resolve()
    assert loaded.issues_path == project.resolve() / "issues"

    result = newsletter("config")
    assert result.exit_code == 0, result.output
    assert "# configuration: built-in defaults" in result.stdout
    assert shown(result) == Config().model_dump()


@pytest.mark.parametrize(
    ("key", "variable"),
    [("secret_key", "NEWSLETTER_SECRET_KEY"), ("smtp_password", "NEWSLETTER_SMTP_PASSWORD")],
)
def test_secrets_in_the_file_are_rejected(project: Path, key: str, variable: str) -> None:
    path = write_config(project, f'name = "AI Weekly"\n{key} = "hunter2-do-not-print"\n')

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    [problem] = problems(caught.value)
    assert problem.startswith(f"config/newsletter.toml:2: {key}: secrets are not read from files")
    assert f"set {variable} in the environment" in problem
    assert "hunter2-do-not-print" not in problem

    result = newsletter("config")
    assert result.exit_code == 1
    assert f"set {variable} in the environment" in result.stderr
    assert "hunter2-do-not-print" not in result.output


def test_secret_from_the_environment_is_available_but_never_printed(project: Path) -> None:
    write_config(project, 'name = "AI Weekly"\n')
    env = {"NEWSLETTER_SECRET_KEY": "s3cr3t-signing-key"}

    loaded = load_project(environ=env)
    assert loaded.secret("NEWSLETTER_SECRET_KEY") == "s3cr3t-signing-key"
    assert load_project(environ={}).secret("NEWSLETTER_SECRET_KEY") is None

    result = newsletter("config", env=env)
    assert result.exit_code == 0, result.output
    assert "# NEWSLETTER_SECRET_KEY: set" in result.stdout.splitlines()
    assert "# NEWSLETTER_SMTP_PASSWORD: not set" in result.stdout.splitlines()
    assert "s3cr3t-signing-key" not in result.output

    unset = newsletter("config")
    assert "# NEWSLETTER_SECRET_KEY: not set" in unset.stdout.splitlines()


def test_project_root_is_the_parent_of_the_config_folder(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(project, 'issues_dir = "content"\n')
    (project / "content" / "2024-03-10-first").mkdir(parents=True)
    (project / "content" / "2024-03-10-first" / "issue.md").write_text(
        "---\ntitle: First\ndate: 2024-03-10\n---\n\nThe lead of the first issue.\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # Run from another folder: paths still resolve to the project.

    loaded = load_project(path, environ={})

    assert loaded.root == project.resolve()
    assert loaded.issues_path == project.resolve() / "content"

    result = newsletter("--config", str(path), "check")
    assert result.exit_code == 0, result.output
    assert "1 issues checked: 0 errors" in result.stdout


def test_config_outside_a_config_folder_makes_its_own_folder_the_root(project: Path) -> None:
    path = write_config(project, 'issues_dir = "posts"\n', "site/newsletter.toml")

    loaded = load_project(path, environ={})

    assert loaded.root == (project / "site").resolve()
    assert loaded.issues_path == (project / "site").resolve() / "posts"


TOPICS = """\
locales = ["en", "de", "zh"]

[topics.research]
en = "Research"
de = "Forschung"
zh_Hans = "研究"

[topics.weekly]
en = "Weekly"
"""


def test_topic_names_per_locale_fall_back_to_the_default_locale_then_the_tag(
    project: Path,
) -> None:
    config = load_project(write_config(project, TOPICS), environ={}).config
    assert config.topics["research"] == {"en": "Research", "de": "Forschung", "zh": "研究"}
    assert config.topic_name("research", "zh") == ("研究", "zh")  # zh_Hans is the zh edition.
    assert config.topic_name("weekly", "de") == ("Weekly", "en")
    assert config.topic_name("sample", "de") == ("sample", "")


@pytest.mark.parametrize(
    ("table", "line", "problem"),
    [
        (
            '[topics.sample]\nxx = "Bad"',
            11,
            "topics: [topics.sample] xx: 'xx' is not a known locale",
        ),
        ('[topics.sample]\nfr = "Non"', 11, "topics: [topics.sample] fr: not one of locales"),
        ('[topics.sample]\nde = " "', 11, "[topics.sample] de: the name must be text of 1 to 100"),
        ('[topics.sample]\nde = "a\\u0000b"', 11, "without control characters"),
        ("[topics.sample]\nde = 5", 11, "[topics.sample] de: the name must be text"),
        ('[topics."two words"]\nfr = "Non"', 11, '[topics."two words"] fr: not one of locales'),
        ("[topics]\nsample = 5", None, '[topics.sample]: must be a table of LOCALE = "Name"'),
    ],
)
def test_topic_names_are_checked_when_the_configuration_loads(
    project: Path, table: str, line: int | None, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_project(write_config(project, f"{TOPICS}\n{table}\n"), environ={})
    (reported,) = problems(raised.value)
    where = f"config/newsletter.toml:{line}: " if line else "config/newsletter.toml: topics: "
    assert reported.startswith(where) and problem in reported, reported


def test_a_word_outside_its_choices_is_reported_with_them(project: Path) -> None:
    path = write_config(project, 'tracking = "everyone"\ncss_inliner = "fast"\n')

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    assert sorted(problems(caught.value)) == [
        "config/newsletter.toml:1: tracking: must be one of aggregate, individual, off",
        "config/newsletter.toml:2: css_inliner: must be one of premailer, css-inline",
    ]
