"""The configuration's schema: every key, its type, default, bounds and meaning (`Config`)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from newsletter.characters import forbidden_character
from newsletter.config import values
from newsletter.config.hosts import check_host, check_url_characters
from newsletter.config.transport_url import parse_transport_url
from newsletter.locales import normalize_locale
from newsletter.timezones import InvalidTimeZone, time_zone

INLINERS = ("premailer", "css-inline")
TRACKING = ("aggregate", "individual", "off")

# An SNS topic's ARN (aws, aws-cn, aws-us-gov partitions; FIFO topics end in .fifo).
_TOPIC_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:sns:[a-z0-9-]{1,30}:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
)

# Environment variables that hold secrets, with what each is for. They are never read from files.
SECRET_VARIABLES: dict[str, str] = {
    "NEWSLETTER_SECRET_KEY": "Key that signs confirmation, unsubscribe and preferences tokens.",
    "NEWSLETTER_SMTP_USERNAME": "User name for SMTP authentication.",
    "NEWSLETTER_SMTP_PASSWORD": "Password for SMTP authentication.",
    "NEWSLETTER_DKIM_PRIVATE_KEY": "DKIM private key, RSA or Ed25519 (PEM text, or the path of a PEM file) when dkim_selector is set.",
    # Provider webhooks (docs/webhooks.md): a provider whose secret is unset has no route.
    "NEWSLETTER_MAILGUN_SIGNING_KEY": "Mailgun's webhook signing key: turns /webhooks/mailgun on.",
    "NEWSLETTER_SENDGRID_PUBLIC_KEY": "SendGrid's signed event webhook verification key (base64 DER): turns /webhooks/sendgrid on.",
    "NEWSLETTER_POSTMARK_WEBHOOK_SECRET": "The password of the HTTP Basic credentials in Postmark's webhook URL: turns /webhooks/postmark on.",
    # The IMAP mailbox of the imap:// and imaps:// inbound sources (docs/bounces.md).
    "NEWSLETTER_IMAP_PASSWORD": "Password of the IMAP mailbox of the imap:// and imaps:// inbound sources.",
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
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IP addresses or networks of the reverse proxies in front of `serve` and `run`, whose X-Forwarded-For header names the client; empty: the client is the socket's peer.",
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
    sequences_dir: str = Field(
        "sequences",
        description="Folder holding the welcome and onboarding sequences (sequences/NAME/01-step.md), relative to the project folder.",
    )
    archive_dir: str = Field(
        "build/archive",
        description="Folder `newsletter archive` writes the static archive to, and `serve` and `run` serve it from; relative to the project folder.",
    )
    journal_dir: str = Field(
        ".newsletter/journal",
        description="Folder on this machine's disk where each delivery worker journals its outcomes until they are recorded, so a crash repeats at most one message per connection; relative to the project folder.",
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
        description="The topics readers may choose on the subscribe form, and their names there and on the preferences page, per locale: a [topics.TAG] table of LOCALE = \"Name\"; a tag without a name in the reader's locale shows the default locale's, else the tag itself.",
    )
    # Return paths and the bounce policy (docs/bounces.md).
    bounce_address: str = Field(
        "",
        description="Base of the VERP return paths: each delivery's envelope sender becomes LOCAL+ID-SIGNATURE@DOMAIN (signed with NEWSLETTER_SECRET_KEY), so a bounce names its delivery; empty: the sender address, as before.",
    )
    soft_bounce_limit: int = Field(
        3,
        ge=1,
        description="Soft bounces (mailbox full, a deferral given up on) of one subscriber within soft_bounce_days that suppress the address.",
    )
    soft_bounce_days: float = Field(
        30.0,
        gt=0,
        description="Days over which soft bounces are counted against soft_bounce_limit.",
    )
    # The audience (docs/audience.md).
    segments: dict[str, str] = Field(
        default_factory=dict,
        description='Named segments for send --to NAME: name = "segment expression" (docs/audience.md), such as acme = \'company = "ACME" and not locale = "ar"\'.',
    )
    fields: list[str] = Field(
        default_factory=list,
        description='Subscriber attributes issues and templates may show as {{ subscriber.KEY | default("...") }} besides name, first_name and email, such as ["company", "plan"]; newsletter check reports any other key.',
    )
    # Engagement (docs/engagement.md).
    tracking: str = Field(
        "aggregate",
        description="Click tracking in sent issues: aggregate (clicks counted per mailing, locale and link, nobody identified), individual (each click also stored with the reader's delivery: shown in subscribers show and the GDPR export) or off (links untouched).",
    )
    open_tracking: bool = Field(
        False,
        description="Put an open pixel in sent issues; opens are reported as unreliable (privacy proxies load every image) and each load is a privacy cost to readers.",
    )
    click_limit: int = Field(
        120,
        ge=0,
        description="Tracking-link requests per minute from one client address that are counted and redirected; more get 429 and are not counted (0: no limit).",
    )
    api_rate_limit: int = Field(
        600,
        ge=1,
        description="Requests per minute one API key may make (in each process); beyond it a request gets 429 with Retry-After.",
    )
    # The mail providers' webhooks (docs/webhooks.md).
    webhook_max_age: float = Field(
        300.0,
        ge=30.0,
        le=86400.0,
        description="Seconds a signed webhook's timestamp (Mailgun, SendGrid, SNS) may be old or ahead of our clock; older requests are refused as replays.",
    )
    ses_certificate: str = Field(
        "",
        description="PEM file (relative to the project folder) of the SNS signing certificate(s) that SES notifications are checked against; empty: /webhooks/ses is off.",
    )
    ses_topic_arns: list[str] = Field(
        default_factory=list,
        validate_default=True,  # So that a certificate without topics is reported too.
        description="The SNS topics (ARNs) whose notifications /webhooks/ses accepts; empty: /webhooks/ses is off.",
    )

    @field_validator("ses_topic_arns", mode="before")
    @classmethod
    def _topic_arns(cls, values: Any) -> Any:
        if isinstance(values, str):  # NEWSLETTER_SES_TOPIC_ARNS: comma-separated.
            values = [part.strip() for part in values.split(",") if part.strip()]
        for value in values if isinstance(values, list) else []:
            if not isinstance(value, str):
                continue  # The type check says what is wrong with it.
            if not _TOPIC_ARN.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:ses-bounces"
                )
        return values

    @field_validator("ses_topic_arns")
    @classmethod
    def _ses_both_or_none(cls, values: list[str], info: ValidationInfo) -> list[str]:
        # One without the other would leave /webhooks/ses off (404) without a word.
        certificate = info.data.get("ses_certificate")
        if certificate and not values:
            raise ValueError(
                "empty while ses_certificate is set: list the SNS topics /webhooks/ses accepts, "
                'e.g. ["arn:aws:sns:eu-west-1:123456789012:ses-feedback"], or empty ses_certificate'
            )
        if certificate == "" and values:
            raise ValueError(
                "set while ses_certificate is empty: give the PEM file of SNS's signing "
                "certificate (docs/webhooks.md), or empty ses_topic_arns to turn /webhooks/ses off"
            )
        return values

    # The inbound SMTP listener and the sources `newsletter run` polls (docs/bounces.md).
    inbound_listen: str = Field(
        "",
        description="HOST:PORT of the inbound SMTP listener inside `newsletter run` (e.g. 127.0.0.1:2525), which takes mail for the bounce and unsubscribe addresses only; empty: off.",
    )
    inbound_spool: str = Field(
        "inbound",
        description="Maildir the inbound SMTP listener writes each accepted message into before answering 250, and `newsletter run` processes; relative to the project folder.",
    )
    inbound_urls: list[str] = Field(
        default_factory=list,
        description="Inbound sources `newsletter run` reads bounces, complaints and mailto unsubscribes from: imap://, imaps://, maildir:DIR, mbox:FILE URLs.",
    )
    inbound_poll_seconds: float = Field(
        60.0,
        ge=5,
        le=86400,
        description="Seconds between two passes of `newsletter run` over the inbound sources (and the listener's spool).",
    )

    @field_validator("inbound_spool", "journal_dir")
    @classmethod
    def _folder_of_its_own(cls, value: str, info: ValidationInfo) -> str:
        # The project folder itself would get the Maildir's new/, cur/ and tmp/, or the journals.
        example = {"inbound_spool": '"inbound" (a Maildir)', "journal_dir": '".newsletter/journal"'}
        problem = forbidden_character(value)
        if problem:
            raise ValueError(problem)
        if posixpath.normpath(value.strip() or ".") == ".":
            raise ValueError(
                f"must be a folder of its own, such as {example[info.field_name or '']}"
            )
        return value

    @field_validator("inbound_listen")
    @classmethod
    def _inbound_listen(cls, value: str) -> str:
        if not value:
            return value
        host, colon, port = value.rpartition(":")
        if not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError('must be HOST:PORT such as 127.0.0.1:2525 (or "" for off)')
        check_host(host.strip("[]"))
        return value

    @field_validator("inbound_urls")
    @classmethod
    def _inbound_urls(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(r"^(imaps?://|maildir:|mbox:)", value):
                raise ValueError(
                    "each must be an imap://, imaps://, maildir: or mbox: URL, "
                    "e.g. imaps://bounces@imap.example.org/INBOX"
                )
            if re.match(r"^imaps?://[^/@]*:[^/]*@", value):
                # Never echoed: it holds a password.
                raise ValueError(
                    "an IMAP URL holds a password: remove it and set NEWSLETTER_IMAP_PASSWORD"
                )
        return values

    @field_validator("name", "sender_name")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()  # A sender name of spaces is none: the name is used instead.

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        check_url_characters(value)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://news.example.org")
        try:
            parts.port  # noqa: B018 (a port that is no number raises)
        except ValueError:
            raise ValueError(
                "its port must be a number, as in https://news.example.org:8443"
            ) from None
        if not parts.hostname:
            raise ValueError("names no host: write it as https://news.example.org")
        check_host(parts.hostname)
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

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address(cls, value: str) -> str:
        from newsletter.config.bounce_address import bounce_address_problem

        problem = bounce_address_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as error:
                raise ValueError(
                    f"{value!r} is not an IP address or network such as 10.0.0.5 or 10.0.0.0/8"
                ) from error
        return values

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
            return time_zone(value, "timezone")
        except InvalidTimeZone as error:
            raise ValueError(error.problem) from None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+]*://", value):
            raise ValueError("must be a database URL such as sqlite:///newsletter.db")
        server = value.partition("://")[2].partition("?")[0]
        if not value.startswith("sqlite") and "@" in server.partition("/")[2]:
            # `user:pa@ss/word@host`: read as host `ss`, and the rest of the password shown
            # as the database name in every error. The value itself is never echoed.
            raise ValueError(
                "its user part holds an unencoded @ or / (in the password?): write them "
                "as %40 and %2F, e.g. postgresql+psycopg://news:pa%40ss@db.example.org/news"
            )
        return value

    @field_validator("transport_url")
    @classmethod
    def _transport_url(cls, value: str) -> str:
        parse_transport_url(value)  # The one parser: the transports are opened with it too.
        return value

    @field_validator("tracking", "css_inliner")
    @classmethod
    def _one_of_its_choices(cls, value: str, info: ValidationInfo) -> str:
        choices = {"tracking": TRACKING, "css_inliner": INLINERS}[info.field_name or ""]
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
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
        return values.logo(value, info.data.get("base_url"))

    @field_validator("logo_alt")
    @classmethod
    def _logo_alt(cls, value: str | dict[str, str], info: ValidationInfo) -> str | dict[str, str]:
        return values.logo_alt(value, info.data.get("locales") or [])

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: Any, info: ValidationInfo) -> dict[str, dict[str, str]]:
        return values.topics(value, info.data.get("locales") or [])

    def logo_text(self, locale: str) -> str:
        """The logo's alt text in `locale`: its own, its language's, else the newsletter name."""
        texts = self.logo_alt if isinstance(self.logo_alt, dict) else {"": self.logo_alt}
        language = locale.split("_")[0]
        return texts.get(locale) or texts.get(language) or texts.get("") or self.name

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
