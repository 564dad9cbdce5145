"""The project configuration: one typed schema, loaded from `config/newsletter.toml` and the environment.

Every key can be overridden by an environment variable named `NEWSLETTER_` plus the key in upper
case. Secrets never come from files: they are read from their own environment variables only.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from newsletter.deliver.transport_url import parse_transport_url, path_problem
from newsletter.errors import ConfigError, display_path
from newsletter.locales import match_locale, normalize_locale
from newsletter.subscribers.characters import forbidden_character

ENV_PREFIX = "NEWSLETTER_"
CONFIG_ENV = "NEWSLETTER_CONFIG"
DEFAULT_CONFIG_PATH = Path("config") / "newsletter.toml"
INLINERS = ("premailer", "css-inline")
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")

# Environment variables that hold secrets, with what each is for. They are never read from files.
SECRET_VARIABLES: dict[str, str] = {
    "NEWSLETTER_SECRET_KEY": "Key that signs confirmation, unsubscribe and preferences tokens.",
    "NEWSLETTER_SMTP_USERNAME": "User name for SMTP authentication.",
    "NEWSLETTER_SMTP_PASSWORD": "Password for SMTP authentication.",
    "NEWSLETTER_DKIM_PRIVATE_KEY": "DKIM private key (PEM text, or the path of a PEM file) when dkim_selector is set.",
}


class Config(BaseModel):
    """The settings of one newsletter project."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        "Newsletter",
        min_length=1,
        description="Name of the newsletter, shown in emails and on the web.",
    )
    base_url: str = Field(
        "http://localhost:8000",
        description="Public base URL of the web version and archive; relative links are made absolute against it.",
    )
    sender_name: str = Field(
        "", description="Display name in the From header; defaults to the newsletter name."
    )
    sender_address: str = Field(
        "newsletter@example.org", description="Email address in the From header."
    )
    reply_to: str = Field(
        "", description="Address replies go to; empty means replies go to the sender address."
    )
    postal_address: str = Field(
        "",
        description="Sender's postal address, printed in every email footer (required by anti-spam laws).",
    )
    locales: list[str] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        description="Locales the newsletter is published in (Babel identifiers such as en, zh, pt_BR, ar).",
    )
    default_locale: str = Field(
        "en",
        description="Locale of issues that name none and detect none; the fallback for missing translations.",
    )
    timezone: str = Field(
        "UTC", description="IANA time zone for dates written without one and for schedules."
    )
    min_translated_share: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of an edition's stories (0.0 to 1.0) that must be translated, its issue file too, for the edition to be sent and published; readers of a locale whose edition is not offered get the default locale's edition, else the original. The original language is always offered.",
    )
    database_url: str = Field(
        "sqlite:///newsletter.db",
        description="SQLAlchemy database URL; a relative SQLite path is relative to the project folder.",
    )
    transport_url: str = Field(
        "smtp://localhost:25",
        description="Where messages go: smtp://, smtps://, eml:DIR, mbox:FILE or null: (dry run).",
    )
    css_inliner: str = Field(
        "premailer",
        description="CSS inliner for email HTML: premailer (pure Python) or css-inline (much faster).",
    )
    unsubscribe_address: str = Field(
        "",
        description="Mailbox of the mailto: unsubscribe link in List-Unsubscribe; defaults to reply_to, else the sender address.",
    )
    retry_delay: float = Field(
        60.0,
        gt=0,
        description="Seconds before the first retry of a message the server deferred (4xx); each retry waits twice as long, at most an hour.",
    )
    max_attempts: int = Field(
        8,
        ge=1,
        description="Attempts per message before a deferred (4xx) message counts as failed.",
    )
    dkim_selector: str = Field(
        "",
        description="DKIM selector to sign every message with (the key comes from NEWSLETTER_DKIM_PRIVATE_KEY); empty: no signing.",
    )
    dkim_domain: str = Field(
        "", description="Domain (d=) of DKIM signatures; defaults to the sender address's domain."
    )
    editor_address: str = Field(
        "",
        description="Where `newsletter run` sends editor notices: no issue ready for a weekly send, a send missed or failed; empty: the log only.",
    )
    misfire_grace: float = Field(
        21600.0,
        ge=0,
        description="Seconds a scheduled send may start late (the service was down at its time); later, it is reported as missed and not sent.",
    )
    leader_lease: float = Field(
        30.0,
        ge=1,
        description="Seconds the `newsletter run` process leading the schedule holds the lead without renewing it; another process takes over after that.",
    )
    theme: str = Field("default", description="Template theme: a folder name under templates/.")
    logo: str = Field(
        "",
        description="The logo at the top of every email and web page, in place of the name: an image in the project folder (published by the archive under static/) or an absolute URL on base_url; empty: the name in text.",
    )
    logo_alt: str | dict[str, str] = Field(
        "",
        description="The logo's alt text: one text, or a table by locale; where none is given, the newsletter name.",
    )
    logo_width: int = Field(
        160, ge=16, le=552, description="Width of the logo in CSS pixels; its height follows."
    )
    issues_dir: str = Field(
        "issues", description="Folder holding the issues, relative to the project folder."
    )
    archive_dir: str = Field(
        "build/archive",
        description="Folder `newsletter archive` writes the static archive to, and `serve` and `run` serve it from; relative to the project folder.",
    )
    archive_page_size: int = Field(
        20, ge=1, description="Issues per index page of the archive (newest first)."
    )
    feed_entries: int = Field(
        20,
        ge=0,
        description="Newest issues in each feed of the archive, with their full text; 0: all of them.",
    )
    topics: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Names of subscriber tags on the preferences page, per locale: a [topics.TAG] table of LOCALE = \"Name\"; a tag without a name in the reader's locale shows the default locale's, else the tag itself.",
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://news.example.org")
        return value.rstrip("/")

    @field_validator("sender_address", "reply_to", "unsubscribe_address", "editor_address")
    @classmethod
    def _email_address(cls, value: str) -> str:
        if not value:
            return value
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(
                value, check_deliverability=False, test_environment=True
            ).normalized
        except EmailNotValidError as error:
            raise ValueError(f"{value!r} is not a valid email address: {error}") from error

    @field_validator("default_locale")
    @classmethod
    def _default_locale(cls, value: str, info: ValidationInfo) -> str:
        locale = normalize_locale(value)
        # `locales` is validated first; when it is itself invalid, that is reported instead.
        locales = info.data.get("locales")
        if locales is not None and locale not in locales:
            raise ValueError(f"{locale!r} must be one of locales {locales}")
        return locale

    @field_validator("locales")
    @classmethod
    def _locales(cls, values: list[str]) -> list[str]:
        normalized = [normalize_locale(value) for value in values]
        if len(set(normalized)) != len(normalized):
            raise ValueError("lists a locale twice")
        return normalized

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from error
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+]*://", value):
            raise ValueError("must be a database URL such as sqlite:///newsletter.db")
        return value

    @field_validator("transport_url")
    @classmethod
    def _transport_url(cls, value: str) -> str:
        parse_transport_url(value)  # The one parser: the transports are opened with it too.
        return value

    @field_validator("css_inliner")
    @classmethod
    def _css_inliner(cls, value: str) -> str:
        if value not in INLINERS:
            raise ValueError("must be one of " + ", ".join(INLINERS))
        return value

    @field_validator("theme")
    @classmethod
    def _theme(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value) or value in (".", ".."):
            raise ValueError("must be a folder name under templates/, such as default")
        return value

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            return value
        base = info.data.get("base_url")
        if urlsplit(value).scheme or value.startswith("//"):
            if base is not None and not value.startswith(f"{base}/"):
                raise ValueError(
                    f"{value!r} is on another host than base_url ({base}): each email opened "
                    "would ask it for the logo; give a file in the project folder, or a URL "
                    "on base_url"
                )
            return value
        path = PurePosixPath(value.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a path inside the project folder, such as assets/logo.png")
        if path.suffix.lower() not in LOGO_SUFFIXES:
            raise ValueError("must be an image: " + ", ".join(LOGO_SUFFIXES))
        return path.as_posix()

    @field_validator("logo_alt")
    @classmethod
    def _logo_alt(cls, value: str | dict[str, str], info: ValidationInfo) -> str | dict[str, str]:
        if isinstance(value, str):
            return value.strip()
        locales = info.data.get("locales") or []
        texts = {}
        for code, text in value.items():
            locale = normalize_locale(code)
            if locales and locale not in locales:
                raise ValueError(f"{code!r} is not one of locales {locales}")
            texts[locale] = text.strip()
        return texts

    def logo_text(self, locale: str) -> str:
        """The logo's alt text in `locale`: its own, its language's, else the newsletter name."""
        texts = self.logo_alt if isinstance(self.logo_alt, dict) else {"": self.logo_alt}
        language = locale.split("_")[0]
        return texts.get(locale) or texts.get(language) or texts.get("") or self.name

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: Any, info: ValidationInfo) -> dict[str, dict[str, str]]:
        if isinstance(value, str):  # NEWSLETTER_TOPICS: the same tables as JSON.
            try:
                value = json.loads(value)
            except ValueError as error:
                raise ValueError(
                    f'must be JSON such as {{"research": {{"en": "Research"}}}}: {error}'
                ) from error
        if not isinstance(value, dict):
            raise ValueError('must be tables such as [topics.research] with en = "Research"')
        locales = info.data.get("locales") or []
        checked: dict[str, dict[str, str]] = {}
        for tag, names in value.items():
            bare = re.fullmatch(r"[A-Za-z0-9_-]+", tag)
            where = f"[topics.{tag}]" if bare else f"[topics.{json.dumps(tag, ensure_ascii=False)}]"
            if not tag.strip() or len(tag) > 100 or forbidden_character(tag):
                raise ValueError(
                    f"{where}: a tag name is 1 to 100 characters, without control characters"
                )
            if not isinstance(names, dict):
                raise ValueError(
                    f'{where}: must be a table of LOCALE = "Name", such as en = "Research"'
                )
            checked[tag] = {}
            for locale, name in names.items():
                try:
                    matched = match_locale(locale, locales)
                except ValueError as error:
                    raise ValueError(f"{where} {locale}: {error}") from error
                if matched not in locales:
                    raise ValueError(f"{where} {locale}: not one of locales {locales}")
                if (
                    not isinstance(name, str)
                    or not name.strip()
                    or len(name) > 100
                    or forbidden_character(name)
                ):
                    raise ValueError(
                        f"{where} {locale}: the name must be text of 1 to 100 characters, without control characters"
                    )
                checked[tag][matched] = name.strip()
        return checked

    def topic_name(self, tag: str, locale: str) -> tuple[str, str]:
        """(name, locale of the name) of a tag for readers in `locale`: its name there, else the
        default locale's, else the tag itself ("" as its locale)."""
        names = self.topics.get(tag, {})
        for candidate in (locale, self.default_locale):
            if candidate in names:
                return names[candidate], candidate
        return tag, ""

    @property
    def sender(self) -> str:
        """The display name for the From header."""
        return self.sender_name or self.name

    @property
    def unsubscribe_mailbox(self) -> str:
        """Where mailto: unsubscribe requests go."""
        return self.unsubscribe_address or self.reply_to or self.sender_address


# Settings whose built-in defaults are placeholders that must never reach readers: a real send,
# a schedule, `serve` and `run` refuse to start until the file or the environment sets them.
REQUIRED_SETTINGS = ("name", "base_url", "sender_address")


@dataclass(frozen=True)
class Project:
    """A loaded configuration, the folder it belongs to, and the secrets from the environment."""

    config: Config
    root: Path
    source: Path | None
    secrets: Mapping[str, str]
    explicit: frozenset[str] = frozenset()
    """The keys the configuration file or the environment set (the others have their defaults)."""

    @property
    def unset_required(self) -> list[str]:
        """The required settings left at their placeholder defaults."""
        return [key for key in REQUIRED_SETTINGS if key not in self.explicit]

    def require_settings(self, what: str) -> None:
        """ConfigError naming the unset required settings, the file and how to set them, so
        that `what` (a real send, `newsletter serve`...) never uses a placeholder."""
        missing = self.unset_required
        if missing:
            many = len(missing) > 1
            raise ConfigError(
                f"{_listed(missing)} not set; {what} needs {'them' if many else 'it'} "
                f"(the placeholder{'s' if many else ''} "
                + ", ".join(str(Config.model_fields[key].default) for key in missing)
                + " must not reach readers)",
                path=self.source or DEFAULT_CONFIG_PATH,
                hint=self.settings_hint(),
            )

    def settings_warning(self) -> str | None:
        """One line saying which required settings have placeholder values, or None."""
        missing = self.unset_required
        if not missing:
            return None
        where = display_path(self.source or DEFAULT_CONFIG_PATH)
        return (
            f"{where}: {_listed(missing)} not set; using placeholders ("
            + ", ".join(f"{key} = {Config.model_fields[key].default}" for key in missing)
            + "): fine for a try, but a real send, schedules, serve and run refuse to start"
        )

    def settings_hint(self) -> str:
        """How to set the unset required settings: in the file or the environment."""
        missing = self.unset_required
        examples = {
            "name": 'name = "Field Notes"',
            "base_url": 'base_url = "https://news.example.org"',
            "sender_address": 'sender_address = "notes@news.example.org"',
        }
        where = display_path(self.source or DEFAULT_CONFIG_PATH)
        return (
            f"add {'; '.join(examples[key] for key in missing)} to {where}, or set "
            + ", ".join(f"{ENV_PREFIX}{key.upper()}" for key in missing)
            + " in the environment"
        )

    @property
    def issues_path(self) -> Path:
        """The folder holding the issues."""
        return self.root / self.config.issues_dir

    @property
    def archive_path(self) -> Path:
        """The folder the static archive is written to and served from."""
        return self.root / self.config.archive_dir

    def secret(self, variable: str) -> str | None:
        """The value of a secret environment variable, or None when unset."""
        return self.secrets.get(variable) or None


def load_project(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Load the configuration from `path`, `$NEWSLETTER_CONFIG` or config/newsletter.toml.

    Without an explicit file and with no config/newsletter.toml, the embedded defaults apply.
    Raises ConfigError listing every problem at once.
    """
    env = os.environ if environ is None else environ
    explicit = path or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    source = explicit or DEFAULT_CONFIG_PATH
    values: dict[str, Any] = {}
    problems: list[str] = []
    text = ""
    if source.is_file():
        text, values = _read_toml(source)
    elif explicit is not None:
        raise ConfigError(
            "configuration file not found",
            path=source,
            hint=f"create it, or point --config / {CONFIG_ENV} at an existing file",
        )
    file_source = source if source.is_file() else None
    where = display_path(source)

    for key in list(values):
        if f"{ENV_PREFIX}{key.upper()}" in SECRET_VARIABLES:
            problems.append(
                f"{_at(where, text, key)}: {key}: secrets are not read from files; "
                f"remove it and set {ENV_PREFIX}{key.upper()} in the environment"
            )
            del values[key]
        elif key not in Config.model_fields:
            problems.append(
                f"{_at(where, text, key)}: {key}: unknown key{_suggestion(key, Config.model_fields)}"
            )
            del values[key]

    origins = {key: f"{where}: {key}" for key in values}
    for variable, raw in env.items():
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_ENV:
            continue
        if variable in SECRET_VARIABLES:
            continue
        key = variable[len(ENV_PREFIX) :].lower()
        if key not in Config.model_fields:
            known = [f"{ENV_PREFIX}{name.upper()}" for name in Config.model_fields]
            known += list(SECRET_VARIABLES)
            problems.append(
                f"environment {variable}: unknown setting{_suggestion(variable, known)}"
            )
            continue
        values[key] = _parse_env_value(key, raw)
        origins[key] = f"environment {variable}"

    try:
        config = Config.model_validate(values)
    except ValidationError as error:
        for item in error.errors():
            key = str(item["loc"][0]) if item["loc"] else ""
            origin = _origin(key, origins, where, text, item["msg"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{origin}: {message}" if key else f"{where}: {message}")
        config = None
    root = _project_root(file_source)
    if config is not None:
        # An eml: folder or mbox: file is relative to the project folder, known only now.
        problem = path_problem(parse_transport_url(config.transport_url), root)
        if problem:
            problems.append(f"{_origin('transport_url', origins, where, text)}: {problem}")
    if problems or config is None:
        raise ConfigError("\n".join(problems))
    secrets = {name: env[name] for name in SECRET_VARIABLES if env.get(name)}
    given = frozenset(key for key, value in values.items() if value not in ("", None))
    return Project(config=config, root=root, source=file_source, secrets=secrets, explicit=given)


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError("is not UTF-8 text", path=path, hint="save the file as UTF-8") from error
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line .*\)$", "", str(error))
        raise ConfigError(
            f"invalid TOML: {message}",
            path=path,
            line=line,
            hint="fix the TOML syntax on that line",
        ) from error


def _parse_env_value(key: str, raw: str) -> Any:
    """Environment values are strings; list keys take comma-separated values."""
    if key == "locales":
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _at(where: str, text: str, key: str) -> str:
    """`file:line` of `key` in the TOML text, or just `file` when it cannot be found."""
    line = _key_line(text, key)
    return f"{where}:{line}" if line else where


def _origin(key: str, origins: dict[str, str], where: str, text: str, message: str = "") -> str:
    """Where the value of `key` came from: `file:line: key` or `environment VARIABLE`."""
    origin = origins.get(key, f"{where}: {key}" if key else where)
    line = _key_line(text, key, message) if key and origin.startswith(where) else None
    return origin.replace(f"{where}:", f"{where}:{line}:", 1) if line else origin


def _key_line(text: str, key: str, message: str = "") -> int | None:
    """The line of `key = ...` or of its `[key.NAME]` table (the one `message` names, if any)."""
    named = re.search(rf"\[{re.escape(key)}\.[^\]]+\]", message)
    lines = list(enumerate(text.splitlines(), start=1))
    if named:  # Only that table's line, else none (not another table's).
        found = [number for number, line in lines if line.strip().startswith(named.group())]
        return found[0] if found else None
    for number, line in lines:
        if re.match(rf"\s*(?:{re.escape(key)}\s*=|\[{re.escape(key)}[.\]])", line):
            return number
    return None


def _listed(keys: list[str]) -> str:
    """`name is` or `name, base_url are`."""
    return f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'}"


def _suggestion(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _project_root(source: Path | None) -> Path:
    """The project folder: the parent of a `config/` folder holding the file, else its folder."""
    if source is None:
        return Path.cwd()
    folder = source.resolve().parent
    return folder.parent if folder.name == "config" else folder
