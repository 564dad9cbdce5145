"""Transports, chosen by one URL: where a finished message goes.

    smtp://host:port       SMTP; STARTTLS when the server offers it (?starttls=require to insist)
    smtps://host:port      SMTP over TLS
    eml:DIR                one .eml file per message, for another MTA or an ESP
    mbox:FILE              all messages appended to an mbox file
    null:                  a dry run: nothing is sent

SMTP URLs take `?connections=N` (parallel connections, default 4), `?rate=R` (messages per
second over all connections, default unlimited) and `?timeout=S`; transport_url.py reads and
checks them. SMTP credentials come from NEWSLETTER_SMTP_USERNAME and NEWSLETTER_SMTP_PASSWORD.
"""

from __future__ import annotations

import abc
import mailbox
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsletter.config.transport_url import (
    TransportUrl,
    parse_transport_url,
    path_problem,
    transport_path,
)
from newsletter.deliver.models import DeliveryState
from newsletter.deliver.smtp import Outcome, SmtpTransport
from newsletter.errors import NewsletterError
from newsletter.files import atomic_write_bytes


class Transport(Protocol):
    """Carries finished messages, one recipient each; `name` names the message (for files).

    `following` is the recipient of the next message, when the caller knows it, and
    `following_sender` its envelope sender ("": this message's): SMTP announces that envelope
    together with this message, saving a round trip. `meanwhile` is work to do while the
    server handles the message (composing the next one): a transport that waits for a reply
    calls it once the message is written and before the reply is read. It must not raise.
    """

    def send(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        name: str = "",
        following: str | None = None,
        following_sender: str = "",
        meanwhile: Callable[[], None] | None = None,
    ) -> Outcome: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Limits:
    """How hard a transport may be driven: parallel connections (per process), and messages
    per second (for the whole installation: deliver/pacing.py shares it)."""

    connections: int
    rate: float | None


def transport_limits(url: str) -> Limits:
    """The limits in a transport URL (`?connections=4&rate=50`); files and null: one at a time."""
    transport = _parsed(url)
    if not transport.is_smtp:
        return Limits(1, None)
    return Limits(transport.connections, transport.rate)


def open_transport(url: str, secrets: Mapping[str, str], root: Path) -> Transport:
    """The transport `url` names; relative eml/mbox paths are relative to `root`."""
    transport = _parsed(url)
    if transport.is_smtp:
        return SmtpTransport(
            host=transport.host,
            port=transport.port,
            tls=transport.scheme == "smtps",
            require_starttls=transport.require_starttls,
            username=secrets.get("NEWSLETTER_SMTP_USERNAME") or transport.username,
            password=secrets.get("NEWSLETTER_SMTP_PASSWORD"),
            timeout=transport.timeout,
        )
    if transport.scheme == "null":
        return NullTransport()
    problem = path_problem(transport, root)
    if problem:
        raise NewsletterError(f"transport_url: {problem}", hint="fix transport_url")
    path = transport_path(transport, root)
    return EmlTransport(path) if transport.scheme == "eml" else MboxTransport(path)


def _parsed(url: str) -> TransportUrl:
    """`url` read; the configuration checked it already, so an error here comes from code."""
    try:
        return parse_transport_url(url)
    except ValueError as error:
        raise NewsletterError(
            f"transport_url {url!r}: {error}",
            hint="e.g. smtp://127.0.0.1:25?connections=4&rate=50",
        ) from None


def _file_name(name: str) -> str:
    """A Message-ID as a file name: `<a.b@host>` -> `a.b@host`, nothing a path could misread."""
    return re.sub(r"[^A-Za-z0-9.@_+-]", "", name)


class _Local(abc.ABC):
    """A transport that hands messages over on this machine: no connection, no envelope."""

    def send(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        name: str = "",
        following: str | None = None,
        following_sender: str = "",
        meanwhile: Callable[[], None] | None = None,
    ) -> Outcome:
        return self.hand_over(message, name)  # Nothing to wait for: `meanwhile` is not needed.

    @abc.abstractmethod
    def hand_over(self, message: bytes, name: str) -> Outcome:
        """Keep `message` (its Message-ID `name`) where this transport keeps messages."""

    def close(self) -> None:  # noqa: B027 (a default, not abstract: nothing stays open)
        """Nothing to close."""


class EmlTransport(_Local):
    """Writes each message to its own .eml file (atomically), ready for another MTA."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def hand_over(self, message: bytes, name: str) -> Outcome:
        # A resumed send writes the same file again rather than a second copy.
        path = self.folder / f"{_file_name(name) or uuid.uuid4().hex}.eml"
        atomic_write_bytes(path, message, private=True)
        return Outcome(DeliveryState.SENT, f"written {path.name}")


class MboxTransport(_Local):
    """Appends every message to one mbox file (locked while writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def hand_over(self, message: bytes, name: str) -> Outcome:
        box = mailbox.mbox(self.path)
        box.lock()
        try:
            box.add(message)
            box.flush()
        finally:
            box.unlock()
            box.close()
        return Outcome(DeliveryState.SENT, f"appended to {self.path.name}")


class NullTransport(_Local):
    """Sends nothing: a dry run that counts."""

    def __init__(self) -> None:
        self.sent = 0

    def hand_over(self, message: bytes, name: str) -> Outcome:
        self.sent += 1
        return Outcome(DeliveryState.SENT, "dry run: not sent")
