"""Transports, chosen by one URL: where a finished message goes.

    smtp://host:port       SMTP; STARTTLS when the server offers it (?starttls=require to insist)
    smtps://host:port      SMTP over TLS
    eml:DIR                one .eml file per message, for another MTA or an ESP
    mbox:FILE              all messages appended to an mbox file
    null:                  a dry run: nothing is sent

SMTP credentials come from NEWSLETTER_SMTP_USERNAME and NEWSLETTER_SMTP_PASSWORD.
"""

from __future__ import annotations

import contextlib
import mailbox
import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from newsletter.errors import NewsletterError
from newsletter.files import atomic_write_bytes


class Transport(Protocol):
    """Carries finished messages; `send` returns the server's reply (or a description)."""

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str: ...

    def close(self) -> None: ...


def open_transport(url: str, secrets: Mapping[str, str], root: Path) -> Transport:
    """The transport `url` names; relative eml/mbox paths are relative to `root`."""
    scheme, _, rest = url.partition(":")
    if scheme in ("smtp", "smtps"):
        parts = urlsplit(url)
        options = parse_qs(parts.query)
        return SmtpTransport(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if scheme == "smtps" else 25),
            tls=scheme == "smtps",
            require_starttls=options.get("starttls", [""])[0] == "require",
            username=secrets.get("NEWSLETTER_SMTP_USERNAME") or parts.username,
            password=secrets.get("NEWSLETTER_SMTP_PASSWORD"),
        )
    if scheme == "eml":
        return EmlTransport(_path(rest, root))
    if scheme == "mbox":
        return MboxTransport(_path(rest, root))
    if scheme == "null":
        return NullTransport()
    raise NewsletterError(
        f"unknown transport {url!r}", hint="use smtp://, smtps://, eml:DIR, mbox:FILE or null:"
    )


def _path(rest: str, root: Path) -> Path:
    path = Path(rest.removeprefix("//"))
    return path if path.is_absolute() else root / path


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened once if the server dropped it."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: bool = False,
        require_starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.tls, self.require_starttls = host, port, tls, require_starttls
        self.username, self.password, self.timeout = username, password, timeout
        self._connection: smtplib.SMTP | None = None

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        for attempt in (1, 2):
            connection = self._connect()
            try:
                refused = connection.sendmail(sender, list(recipients), message)
            except smtplib.SMTPServerDisconnected:
                self._connection = None
                if attempt == 2:
                    raise
                continue
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
            return "250 accepted"
        raise AssertionError("unreachable")

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        try:
            if self.tls:
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                connection.ehlo()
                if connection.has_extn("starttls"):
                    connection.starttls(context=ssl.create_default_context())
                    connection.ehlo()
                elif self.require_starttls:
                    raise NewsletterError(
                        f"{self.host}:{self.port} does not offer STARTTLS",
                        hint="remove ?starttls=require or use smtps://",
                    )
            if self.username and self.password:
                connection.login(self.username, self.password)
        except OSError as error:
            raise NewsletterError(
                f"cannot connect to the SMTP server {self.host}:{self.port}: {error}",
                hint="check transport_url and that the server is running",
            ) from error
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException):
                self._connection.quit()
            self._connection = None


class EmlTransport:
    """Writes each message to its own .eml file (atomically), ready for another MTA."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        path = self.folder / f"{uuid.uuid4().hex}.eml"
        atomic_write_bytes(path, message)
        return f"written {path.name}"

    def close(self) -> None:
        pass


class MboxTransport:
    """Appends every message to one mbox file (locked while writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        box = mailbox.mbox(self.path)
        box.lock()
        try:
            box.add(message)
            box.flush()
        finally:
            box.unlock()
            box.close()
        return f"appended to {self.path.name}"

    def close(self) -> None:
        pass


class NullTransport:
    """Sends nothing: a dry run that counts."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        self.sent += 1
        return "dry run"

    def close(self) -> None:
        pass
