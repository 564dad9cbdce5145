"""An IMAP mailbox as an inbound source: bounces, complaints and mailto unsubscribes by IMAP.

    imap://USER@HOST[:PORT]/MAILBOX[?starttls][&plain][&cafile=PATH][&processed=NAME][&timeout=S]
    imaps://USER@HOST[:PORT]/MAILBOX[?cafile=PATH][&processed=NAME][&timeout=S]

`imaps://` is TLS from the first byte (port 993); `imap://` (port 143) upgrades with STARTTLS,
except to a loopback host, where it talks plain unless `?starttls` asks for TLS. `?plain` is only
allowed to a loopback host: a password never crosses a network in clear. The password comes
from NEWSLETTER_IMAP_PASSWORD, never from the URL. The certificate is always verified, against
the system's CAs or `?cafile=` (a self-signed server's certificate).

Messages are read oldest first (by UID) with BODY.PEEK[], so reading marks nothing seen; a
message is only touched by `finish`, which the processor calls after the message's outcome is
stored: processed messages move to the `Processed` folder (made when missing), those kept for a
human are flagged \\Flagged and stay in the mailbox. Flagged and deleted messages are skipped:
unflag a message to have it read again.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from newsletter.config.hosts import check_host, check_url_characters
from newsletter.errors import NewsletterError
from newsletter.redaction import shown_url

log = logging.getLogger(__name__)

PASSWORD_VARIABLE = "NEWSLETTER_IMAP_PASSWORD"
DEFAULT_PORTS = {"imap": 143, "imaps": 993}
DEFAULT_TIMEOUT = 30.0
DEFAULT_PROCESSED = "Processed"
# A message is read up to this many bytes: a hostile 1 GB message must not exhaust memory.
# What is cut off arrives truncated, which the reader reports as unreadable (kept for a human).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
EXAMPLE = "imaps://bounces%40news.example.org@imap.example.org/INBOX"
_FLAG_OPTIONS = ("starttls", "plain")
# Makes the NewsletterError of one URL from a message and a hint.
Problem = Callable[[str, str], NewsletterError]
_VALUE_OPTIONS = ("cafile", "processed", "timeout")


@dataclass(frozen=True)
class ImapLocation:
    """Where the mailbox is and how to reach it, read from an imap:// or imaps:// URL."""

    url: str
    security: str
    """How the connection is protected: "tls" (imaps), "starttls" or "plain" (loopback only)."""
    host: str
    port: int
    user: str
    mailbox: str
    processed: str
    cafile: Path | None
    timeout: float

    @property
    def shown(self) -> str:
        """The URL as errors and logs show it (a password, if one slipped in, as ***)."""
        return shown_url(self.url)


def imap_location(url: str, root: Path) -> ImapLocation:
    """The location `url` names; NewsletterError naming what is wrong before any connection."""
    shown = shown_url(url)

    def problem(message: str, hint: str) -> NewsletterError:
        return NewsletterError(f"inbound source {shown}: {message}", hint=hint)

    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise problem("is not an imap:// or imaps:// URL", f"write it as {EXAMPLE}")
    if parts.password is not None:
        raise problem(
            "holds a password", f"remove it from the URL and set {PASSWORD_VARIABLE} instead"
        )
    host = parts.hostname or ""
    user = unquote(parts.username or "")
    if not host or not user:
        raise problem("names no user or no host", f"write it as {EXAMPLE}")
    try:
        check_url_characters(url)
        check_host(host)
    except ValueError as error:
        raise problem(str(error), f"write it as {EXAMPLE}") from None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise problem("its port is not a number", f"write it as {EXAMPLE}") from None
    options = _options(parts.query, problem)
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    processed = options.get("processed") or DEFAULT_PROCESSED
    for name in (mailbox, processed):
        if not re.fullmatch(r"[\x20-\x7e]+", name) or name == processed == mailbox:
            raise problem(
                f"mailbox {name!r} is not a plain ASCII name other than the mailbox read",
                "name the folders in ASCII, e.g. /INBOX?processed=Processed",
            )
    security = _security(parts.scheme, host, options, problem)
    cafile = Path(options["cafile"]) if options.get("cafile") else None
    if cafile is not None and not cafile.is_absolute():
        cafile = root / cafile
    try:
        timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
        if not 1 <= timeout <= 600:
            raise ValueError
    except ValueError:
        raise problem("timeout must be seconds from 1 to 600", "e.g. ?timeout=30") from None
    return ImapLocation(url, security, host, port, user, mailbox, processed, cafile, timeout)


def _options(query: str, problem: Problem) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        key = unquote(key)
        if key not in _FLAG_OPTIONS + _VALUE_OPTIONS or key in options:
            raise problem(
                f"unknown or repeated option {key!r}",
                "the options are " + ", ".join(_FLAG_OPTIONS + _VALUE_OPTIONS),
            )
        options[key] = unquote(value)
    return options


def _security(scheme: str, host: str, options: dict[str, str], problem: Problem) -> str:
    if scheme == "imaps":
        if "starttls" in options or "plain" in options:
            raise problem("imaps:// is TLS already", "drop ?starttls and ?plain")
        return "tls"
    if "starttls" in options and "plain" in options:
        raise problem("asks for both STARTTLS and plain", "choose one")
    if "plain" in options and not is_loopback(host):
        # Refused before connecting: the password would cross the network in clear.
        raise problem(
            "plain IMAP is allowed only to a loopback host",
            "use imaps:// or imap:// with STARTTLS (drop ?plain)",
        )
    if "starttls" in options or not is_loopback(host):
        return "starttls"
    return "plain"


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine without a name lookup: localhost or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_imap(url: str, secrets: Mapping[str, str], root: Path) -> ImapSource:
    """An IMAP source for `url`, not yet connected (it connects when messages are read)."""
    location = imap_location(url, root)
    password = secrets.get(PASSWORD_VARIABLE, "")
    if not password:
        raise NewsletterError(
            f"inbound source {location.shown}: no IMAP password",
            hint=f"set {PASSWORD_VARIABLE} in the environment",
        )
    return ImapSource(location, password)


class ImapSource:
    """One IMAP mailbox, read oldest first; `finish` moves or flags each message read."""

    def __init__(
        self, location: ImapLocation, password: str, max_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self.location = location
        self.max_bytes = max_bytes
        self.name = location.shown
        self._password = password
        self._connection: imaplib.IMAP4 | None = None
        self._processed_ready = False
        self.capabilities: frozenset[str] = frozenset()
        """What the server offers once logged in (MOVE, UIDPLUS...); empty until connected."""
        self._validity: bytes | None = None

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(UID, raw message) of every message neither flagged nor deleted, oldest first."""
        connection = self._connect()
        uids = self._command(
            "list the messages", connection.uid, "SEARCH", "UNDELETED", "UNFLAGGED"
        )
        # UIDs grow with each message the mailbox receives: their order is arrival order.
        ordered = sorted(int(uid) for uid in b" ".join(filter(None, uids)).split())
        for uid in ordered:
            raw = self._fetch(connection, str(uid))
            if raw is not None:  # None: another client expunged it since the search.
                yield str(uid), raw

    def _fetch(self, connection: imaplib.IMAP4, uid: str) -> bytes | None:
        part = f"(BODY.PEEK[]<0.{self.max_bytes}>)"
        data = self._command(f"read message {uid}", connection.uid, "FETCH", uid, part)
        for item in data:
            if isinstance(item, tuple) and b"BODY[]" in item[0]:
                return bytes(item[1])
        return None

    def finish(self, key: str, kept: bool) -> None:
        """Flag message `key` for a human (kept) or move it to the processed folder."""
        connection = self._connect()
        if kept:
            self._command(
                f"flag message {key}", connection.uid, "STORE", key, "+FLAGS", r"(\Flagged)"
            )
            return
        folder = self._processed_folder(connection)
        self._command(
            f"mark message {key} seen", connection.uid, "STORE", key, "+FLAGS", r"(\Seen)"
        )
        capabilities = self.capabilities
        if "MOVE" in capabilities:
            self._command(f"move message {key}", connection.uid, "MOVE", key, folder)
            return
        self._command(f"copy message {key}", connection.uid, "COPY", key, folder)
        self._command(
            f"delete message {key}", connection.uid, "STORE", key, "+FLAGS", r"(\Deleted)"
        )
        if "UIDPLUS" in capabilities:
            self._command(f"expunge message {key}", connection.uid, "EXPUNGE", key)
        # Without UIDPLUS an EXPUNGE would also remove what others marked deleted: the copy is
        # made and the original marked \Deleted (skipped from now on) for a mail client to purge.

    def close(self) -> None:
        """Log out; the source can connect again afterwards."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.logout()
        except (imaplib.IMAP4.error, OSError) as error:
            log.warning("%s: logging out: %s", self.name, error)

    def _processed_folder(self, connection: imaplib.IMAP4) -> str:
        folder = _quoted(self.location.processed)
        if not self._processed_ready:
            found = self._command("list folders", connection.list, '""', folder)
            if not any(found):
                self._command(f"create folder {folder}", connection.create, folder)
                connection.subscribe(folder)  # Mail clients show subscribed folders only.
            self._processed_ready = True
        return folder

    def _connect(self) -> imaplib.IMAP4:
        if self._connection is not None:
            return self._connection
        connection = self._open()
        where = self.location
        try:
            connection.login(where.user, self._password)
        except (imaplib.IMAP4.error, UnicodeEncodeError) as error:
            with contextlib.suppress(OSError):
                connection.shutdown()
            raise self._error(
                f"the server refused the login of {where.user!r}: {_said(error)}",
                f"check the user in the URL and {PASSWORD_VARIABLE}",
            ) from None
        self._connection = connection
        # Servers announce MOVE and UIDPLUS only once logged in: ask again.
        said = self._command("ask the capabilities", connection.capability)
        self.capabilities = frozenset(
            b" ".join(item for item in said if isinstance(item, bytes))
            .decode("ascii", "replace")
            .upper()
            .split()
        )
        self._command(
            f"open mailbox {where.mailbox}",
            connection.select,
            _quoted(where.mailbox),
            hint="check the mailbox name at the end of the URL (e.g. /INBOX)",
        )
        validity = connection.response("UIDVALIDITY")[1][0]
        if self._validity is not None and validity != self._validity:
            # UIDs of a recreated mailbox name other messages: a UID read before must not
            # move or flag one of them.
            self._drop()
            raise self._error(
                "the mailbox was recreated since it was read (its UIDVALIDITY changed)",
                "nothing was moved; the next pass reads it afresh",
            )
        self._validity = validity
        return connection

    def _open(self) -> imaplib.IMAP4:
        """A connection, TLS as the location asks, not yet logged in."""
        where = self.location
        context = self._tls() if where.security != "plain" else None
        connection: imaplib.IMAP4 | None = None
        try:
            if where.security == "tls":
                return imaplib.IMAP4_SSL(
                    where.host, where.port, ssl_context=context, timeout=where.timeout
                )
            connection = imaplib.IMAP4(where.host, where.port, timeout=where.timeout)
            if where.security == "starttls":
                connection.starttls(context)
            return connection
        except (OSError, imaplib.IMAP4.error) as error:
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown()
            if isinstance(error, ssl.SSLCertVerificationError):
                raise self._error(
                    f"the server's certificate is not trusted ({error.verify_message})",
                    "give the CA of a self-signed server with ?cafile=PATH",
                ) from None
            raise self._error(
                f"cannot connect to {where.host}:{where.port}: {_said(error)}",
                "check the host, the port, the firewall and that the server offers "
                + _OFFERS[where.security],
            ) from None

    def _tls(self) -> ssl.SSLContext:
        cafile = self.location.cafile
        if cafile is not None and not cafile.is_file():
            raise self._error(f"cafile {cafile} does not exist", "give the path of a PEM file")
        return ssl.create_default_context(cafile=str(cafile) if cafile else None)

    def _command(self, what: str, command: Any, *args: str, hint: str = "") -> list[Any]:
        """The data of an IMAP command that must succeed; NewsletterError otherwise."""
        try:
            status, data = command(*args)
        except (imaplib.IMAP4.error, OSError) as error:
            self._drop()
            raise self._error(f"could not {what}: {_said(error)}", _RETRY) from None
        if status != "OK":
            raise self._error(f"could not {what}: {_said(data)}", hint or _RETRY)
        return list(data)

    def _drop(self) -> None:
        # After a broken connection the next call starts a fresh one.
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown()

    def _error(self, message: str, hint: str) -> NewsletterError:
        return NewsletterError(f"inbound source {self.name}: {message}", hint=hint)


_RETRY = "check the mailbox and the server's log; the next pass tries again"
_OFFERS = {"tls": "TLS", "starttls": "STARTTLS", "plain": "IMAP"}


def _said(error: object) -> str:
    """What the server or the socket said, as one line of text."""
    if isinstance(error, list):
        error = b" ".join(item for item in error if isinstance(item, bytes))
    if isinstance(error, bytes):
        error = error.decode("utf-8", "replace")
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())[:300]


def _quoted(name: str) -> str:
    """An IMAP quoted string of a mailbox name (ASCII, checked when the URL was read)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
