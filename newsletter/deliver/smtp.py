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
import socket
import ssl
from collections.abc import Callable
from typing import NamedTuple

from newsletter.deliver.compose import DotSafe
from newsletter.deliver.models import DeliveryState
from newsletter.errors import NewsletterError

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
_LEADING_DOT = re.compile(rb"(?m)^\.")
DEFERRED = "deferred"
"""An outcome that is not a DeliveryState: the outbox queues the message again, or records it
failed after the last attempt."""


class Outcome(NamedTuple):
    """What became of one message: sent, deferred (try again later) or failed; and the reply."""

    state: str
    """DeliveryState.SENT, DeliveryState.FAILED or DEFERRED."""
    reply: str
    suppress: bool = False
    """A hard bounce (5.1.x: no such mailbox or domain): the address must not be mailed again."""


def outcome(code: int, message: bytes | str) -> Outcome:
    """The outcome an SMTP reply means: 2xx sent, 4xx deferred, 5xx failed (5.1.x suppresses)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    reply = f"{code} {' '.join(text.split())}"[:1000]
    if 200 <= code < 300:
        return Outcome(DeliveryState.SENT, reply)
    if 500 <= code < 600:
        enhanced = _ENHANCED.match(text.strip())
        return Outcome(
            DeliveryState.FAILED, reply, bool(enhanced and enhanced.group(1, 2) == ("5", "1"))
        )
    return Outcome(DEFERRED, reply)  # 4xx, or no reply at all (the connection was lost).


class _Transaction:
    """What one message's SMTP transaction has seen so far: the replies, and whether its data went out."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes]] = []
        self.data_sent = False

    @property
    def answered(self) -> bool:
        return bool(self.replies) or self.data_sent

    def refusal(self) -> tuple[int, bytes] | None:
        """The first reply to MAIL, RCPT or DATA that is not the expected one."""
        for (code, text), wanted in zip(self.replies, (250, 250, 354), strict=False):
            if code != wanted and not (wanted == 250 and code == 251):
                return code, text
        return None

    def outcome_after(self, error: Exception) -> Outcome:
        """The outcome when the connection dropped after the server had answered something."""
        refused = self.refusal()
        if refused is not None:
            return outcome(*refused)
        if self.data_sent:
            return Outcome(
                DEFERRED,
                f"connection lost after the message was sent (it may have arrived): {error}"[:1000],
            )
        return Outcome(DEFERRED, f"connection lost: {error}"[:1000])


def _envelope(sender: str, recipient: str, utf8: bool) -> list[bytes]:
    """MAIL, RCPT and DATA: written at once with PIPELINING, else one at a time."""
    option = " SMTPUTF8" if utf8 else ""
    return [
        f"MAIL FROM:<{sender}>{option}\r\n".encode(),
        f"RCPT TO:<{recipient}>\r\n".encode(),
        b"DATA\r\n",
    ]


def _ascii_domain(address: str) -> str:
    """The address with an internationalized domain in its ASCII (IDNA) form, when it has one."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


class MailServerGone(NewsletterError):
    """The SMTP server this transport had sent through no longer takes connections (a
    restart, a reload, a failover): it may be back in a moment, and a send waits for it."""


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
        self._replies: _Replies | None = None
        # The envelope written behind the last message's data, its replies not read yet.
        self._announced: tuple[str, str] | None = None
        self._reached = False
        """Whether a connection was ever opened: a refusal after one is an outage, not a
        mistake in transport_url."""

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
        """Deliver one message and say what became of it.

        With `following` (the next message's recipient; its sender is `following_sender`, or
        this one's when "") and a server that pipelines, that envelope is written right behind
        this message's data: each message then costs one round trip instead of two.

        A connection found dead before the server answered anything (it timed out while idle)
        is reopened once. Once the server has answered, its answer is the outcome, even if it
        hangs up right after; and a message whose data went out is never sent again here: if
        the connection drops before the final reply, it is deferred (it may have arrived).

        `meanwhile` runs once the data is written, before its reply is read: the caller's
        work for the next message overlaps the server's for this one.
        """
        if not isinstance(message, DotSafe) and (b"\n." in message or message.startswith(b".")):
            message = _LEADING_DOT.sub(b"..", message)  # Dot-stuffing (RFC 5321 4.5.2).
        if not message.endswith(b"\r\n"):
            message += b"\r\n"
        envelope = (_ascii_domain(sender), _ascii_domain(recipient))
        then_sender = _ascii_domain(following_sender) if following_sender else envelope[0]
        then = (then_sender, _ascii_domain(following)) if following else None
        for attempt in (1, 2):
            transaction = _Transaction()
            try:
                connection = self._connect()
                return self._transaction(
                    connection, envelope, message, transaction, then, meanwhile
                )
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                self._drop()
                if transaction.answered:
                    return transaction.outcome_after(error)
                if attempt == 2:
                    return Outcome(DEFERRED, f"connection lost: {error}"[:1000])
        raise AssertionError("unreachable")

    def _transaction(
        self,
        connection: smtplib.SMTP,
        envelope: tuple[str, str],
        message: bytes,
        transaction: _Transaction,
        then: tuple[str, str] | None,
        meanwhile: Callable[[], None] | None,
    ) -> Outcome:
        sender, recipient = envelope
        if self._announced is not None and self._announced != envelope:
            self._abandon_announced(connection)  # The caller changed its plan.
            connection = self._connect()  # A new one if the old one had to be closed.
        utf8 = not (sender.isascii() and recipient.isascii())
        if utf8 and not connection.has_extn("smtputf8"):
            return Outcome(
                DeliveryState.FAILED,
                "the server does not accept internationalized addresses (no SMTPUTF8)",
            )
        pipelining = connection.has_extn("pipelining")
        commands = _envelope(sender, recipient, utf8)
        if pipelining:
            if self._announced == envelope:
                self._announced = None  # Written with the last message: only its replies are due.
            else:
                connection.send(b"".join(commands))
            transaction.replies.extend(self._read() for _ in commands)
        else:
            for command in commands:
                connection.send(command)
                transaction.replies.append(self._read())
                if transaction.replies[-1][0] >= 400:
                    break
        refused = transaction.refusal()
        if refused is not None:
            code, text = refused
            if code == 421:
                self._drop()
            else:
                if transaction.replies[-1][0] == 354:  # DATA was accepted after all: end it empty.
                    connection.send(b".\r\n")
                    self._read()
                self._reset(connection)
            return outcome(code, text)
        announce = pipelining and then is not None and then[0].isascii() and then[1].isascii()
        transaction.data_sent = True
        connection.send(
            message + b".\r\n" + (b"".join(_envelope(*then, False)) if announce and then else b"")
        )
        if announce:
            self._announced = then
        if meanwhile is not None:
            meanwhile()
        code, text = self._read()
        if code == 421:
            self._drop()
        elif code >= 400 and self._announced is not None:
            self._abandon_announced(connection)  # Resets the session, or closes it.
        elif code >= 400:
            self._reset(connection)  # Some servers keep the transaction open after a refusal.
        return outcome(code, text)

    def _abandon_announced(self, connection: smtplib.SMTP) -> None:
        """Read the replies to an announced envelope that will not be used, and cancel it.

        A server waiting for data after DATA cannot be told to stop (ending the data would
        deliver an empty message): the connection is closed instead, which discards it.
        """
        if self._announced is None:
            return
        self._announced = None
        replies = [self._read() for _ in range(3)]
        if replies[-1][0] == 354:
            self._drop()
        else:
            self._reset(connection)

    def _read(self) -> tuple[int, bytes]:
        assert self._replies is not None
        return self._replies.read()

    def _reset(self, connection: smtplib.SMTP) -> None:
        """RSET, best effort: a server that hangs up instead is reconnected for the next message."""
        try:
            connection.send(b"RSET\r\n")
            self._read()
        except (smtplib.SMTPServerDisconnected, OSError):
            self._drop()

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
            try:
                self._open_session(connection)
            except BaseException:
                connection.close()  # A refused login or STARTTLS leaves no socket open.
                raise
            assert connection.sock is not None
            self._replies = _Replies(connection.sock)
        except (OSError, smtplib.SMTPException) as error:
            gone = self._reached and _unreachable(error)
            raise (MailServerGone if gone else NewsletterError)(
                f"cannot connect to the SMTP server {self.host}:{self.port}: {error}",
                hint="check transport_url and that the server is running",
            ) from error
        self._connection, self._reached = connection, True
        return connection

    def _open_session(self, connection: smtplib.SMTP) -> None:
        """EHLO, STARTTLS when offered (or required) and the login, on a new connection."""
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

    def _drop(self) -> None:
        self._replies = self._announced = None
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        self._replies = self._announced = None
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.quit()
            self._connection = None


def _unreachable(error: Exception) -> bool:
    """Whether a failure to connect is the server's absence (refused, reset, timed out, hung
    up before its greeting), not a refused login or certificate: those are settings."""
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    return not isinstance(error, smtplib.SMTPException | ssl.SSLError)


class _Replies:
    """Reads SMTP replies straight from the socket, once smtplib has opened the session.

    smtplib reads a reply line by line through a file object; with pipelining the replies to
    three commands arrive in one packet, and splitting them here costs far less. smtplib's own
    reader is not used on this connection afterwards, so nothing is left in its buffer.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def read(self) -> tuple[int, bytes]:
        """The next reply: its code and its text (lines of a multi-line reply joined by LF)."""
        lines = []
        while True:
            end = self.buffer.find(b"\r\n")
            while end < 0:
                if len(self.buffer) > 65536:
                    raise smtplib.SMTPServerDisconnected("the server's reply is too long")
                data = self.sock.recv(65536)
                if not data:
                    raise smtplib.SMTPServerDisconnected("the server closed the connection")
                self.buffer += data
                end = self.buffer.find(b"\r\n")
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            lines.append(line[4:])
            if line[3:4] != b"-":
                try:
                    code = int(line[:3])
                except ValueError:
                    raise smtplib.SMTPServerDisconnected(
                        f"not an SMTP reply: {line[:40]!r}"
                    ) from None
                return code, b"\n".join(lines)
