"""The SMTP transport: one persistent connection, pipelined commands, replies as outcomes.

smtplib opens the connection (STARTTLS, TLS, AUTH); each message is then one transaction:
MAIL, RCPT and DATA in a single write when the server offers PIPELINING (RFC 2920), then the
message bytes as they are. Messages from compose.py have CRLF line ends and no line starting
with a dot, so nothing needs rewriting; other messages are dot-stuffed here.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from typing import NamedTuple

from newsletter.errors import NewsletterError

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
_LEADING_DOT = re.compile(rb"(?m)^\.")


class Outcome(NamedTuple):
    """What became of one message: sent, deferred (try again later) or failed; and the reply."""

    state: str
    reply: str
    suppress: bool = False
    """A hard bounce (5.1.x: no such mailbox or domain): the address must not be mailed again."""


def outcome(code: int, message: bytes | str) -> Outcome:
    """The outcome an SMTP reply means: 2xx sent, 4xx deferred, 5xx failed (5.1.x suppresses)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    reply = f"{code} {' '.join(text.split())}"[:1000]
    if 200 <= code < 300:
        return Outcome("sent", reply)
    if 500 <= code < 600:
        enhanced = _ENHANCED.match(text.strip())
        return Outcome("failed", reply, bool(enhanced and enhanced.group(1, 2) == ("5", "1")))
    return Outcome("deferred", reply)  # 4xx, or no reply at all (the connection was lost).


class SmtpTransport:
    """One SMTP connection, opened on first use, reopened after the server drops it."""

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

    def send(self, sender: str, recipient: str, message: bytes, name: str = "") -> Outcome:
        """Deliver one message; a dropped connection is reopened once before giving up."""
        if b"\n." in message or message.startswith(b"."):  # Rare: compose.py never makes one.
            message = _LEADING_DOT.sub(b"..", message)
        if not message.endswith(b"\r\n"):
            message += b"\r\n"
        for attempt in (1, 2):
            try:
                return self._transaction(self._connect(), sender, recipient, message)
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                self._drop()
                if attempt == 2:
                    return Outcome("deferred", f"connection lost: {error}"[:1000])
        raise AssertionError("unreachable")

    def _transaction(
        self, connection: smtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> Outcome:
        utf8 = not (sender.isascii() and recipient.isascii())
        if utf8 and not connection.has_extn("smtputf8"):
            return Outcome("failed", "the server does not accept internationalized addresses")
        mail = f"MAIL FROM:<{sender}>{' SMTPUTF8' if utf8 else ''}\r\n"
        rcpt = f"RCPT TO:<{recipient}>\r\n"
        if connection.has_extn("pipelining"):
            connection.send(f"{mail}{rcpt}DATA\r\n".encode())
            replies = [connection.getreply() for _ in range(3)]
        else:
            replies = []
            for command in (mail, rcpt, "DATA\r\n"):
                connection.send(command.encode())
                replies.append(connection.getreply())
                if replies[-1][0] >= 400:
                    break
        for (code, text), wanted in zip(replies, (250, 250, 354), strict=False):
            if code == 421:
                self._drop()
                return outcome(code, text)
            if code != wanted and not (wanted == 250 and code == 251):
                if replies[-1][0] == 354:  # DATA was accepted after all: end it empty.
                    connection.send(b".\r\n")
                    connection.getreply()
                connection.rset()
                return outcome(code, text)
        connection.send(message + b".\r\n")
        code, text = connection.getreply()
        if code == 421:
            self._drop()
        elif code >= 400:
            connection.rset()  # Some servers keep the transaction open after refusing the data.
        return outcome(code, text)

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
            if not self.tls and connection.has_extn("starttls"):
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            elif not self.tls and self.require_starttls:
                raise NewsletterError(
                    f"{self.host}:{self.port} does not offer STARTTLS",
                    hint="remove ?starttls=require or use smtps://",
                )
            if self.username and self.password:
                connection.login(self.username, self.password)
        except (OSError, smtplib.SMTPException) as error:
            raise NewsletterError(
                f"cannot connect to the SMTP server {self.host}:{self.port}: {error}",
                hint="check transport_url and that the server is running",
            ) from error
        self._connection = connection
        return connection

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.quit()
            self._connection = None
