"""The inbound SMTP listener of `newsletter run`: the bounce domain's MX, pointed at us.

It takes mail only for our own mailboxes: the VERP return paths of the bounce address
(`bounces+ANYTHING@bounces.example.org`, and the bounce address itself, where feedback loops
send their reports) and the mailto: unsubscribe mailbox; every other recipient gets 550 5.1.1,
a message over 10 MB gets 552. Each accepted message is written into a Maildir spool (tmp/,
then renamed into new/, one file per recipient, with Return-Path and Delivered-To on top as a
local delivery agent writes them) before the 250 goes out: what we accepted is on disk, and
the service's poller processes it from there (`maildir:SPOOL`). The signature of a VERP address
is checked there, not here: the listener stores, the processor decides.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.config import Project
from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 10
"""Recipients of one message: a bounce or a report comes back to one return path; each recipient
is a copy in the spool, so more (a 10 MB message to thousands of `bounces+TAG`) get 452 and the
sender sends them again in a later transaction (RFC 5321 4.5.3.1.10)."""
# What may follow `+` in a VERP local part: our return paths use letters, digits and `-` only;
# anything else (quotes, spaces, control characters) is no address of ours.
_VERP_TAG = re.compile(r"[A-Za-z0-9._=-]{1,64}")
# What of an envelope sender is written into the Return-Path header: no space, no control.
_UNSAFE_IN_HEADER = re.compile(r"[^\x21-\x7e]|[<>]")


@dataclass(frozen=True)
class Mailboxes:
    """The addresses the listener takes mail for; every other one is refused."""

    bounce_local: str
    """The bounce address's local part (`bounces`), lower case; "" when no bounce address."""
    bounce_domain: str
    unsubscribe: str
    """The mailto: unsubscribe mailbox, lower case; "" when none."""

    @classmethod
    def of(cls, bounce_address: str, unsubscribe_mailbox: str) -> Mailboxes:
        """The mailboxes of the configured bounce address and unsubscribe mailbox."""
        local, _, domain = bounce_address.lower().rpartition("@")
        return cls(local, domain, unsubscribe_mailbox.lower())

    def accepts(self, address: str) -> bool:
        """Whether `address` is one of ours: a VERP address of the bounce address (or that
        address itself) or the unsubscribe mailbox. Case does not matter."""
        address = address.lower()
        if self.unsubscribe and address == self.unsubscribe:
            return True
        local, at, domain = address.rpartition("@")
        if not at or not self.bounce_local or domain != self.bounce_domain:
            return False
        base, plus, tag = local.partition("+")
        return base == self.bounce_local and (not plus or bool(_VERP_TAG.fullmatch(tag)))


class Spool:
    """A Maildir that messages are delivered into atomically (tmp/, fsync, rename to new/)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._lock = threading.Lock()

    def deliver(self, data: bytes) -> Path:
        """The path of `data` in new/, written and synced to disk before it appears there."""
        name = self._unique_name()
        temporary = self.folder / "tmp" / name
        with temporary.open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        final = self.folder / "new" / name
        temporary.rename(final)
        _sync_folder(final.parent)  # The rename itself survives a power cut.
        return final

    def _unique_name(self) -> str:
        # The Maildir convention: time, a per-process unique part, the host name.
        with self._lock:
            self._count += 1
            count = self._count
        seconds, fraction = divmod(time.time_ns() // 1000, 1_000_000)
        host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
        return f"{seconds}.M{fraction}P{os.getpid()}Q{count}.{host}"


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _Handler:
    """aiosmtpd's handler: refuses other recipients, spools each message before the 250."""

    def __init__(self, mailboxes: Mailboxes, spool: Spool) -> None:
        self.mailboxes = mailboxes
        self.spool = spool

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.mailboxes.accepts(address):
            return "550 5.1.1 No such mailbox here"
        if address.lower() in (known.lower() for known in envelope.rcpt_tos):
            return "250 2.1.5 OK"  # The same mailbox again: still one copy.
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content or b"")
        sender = _UNSAFE_IN_HEADER.sub("", envelope.mail_from or "")[:320]
        newline = b"\r\n" if b"\r\n" in content[:4096] else b"\n"
        loop = asyncio.get_running_loop()
        try:
            for recipient in envelope.rcpt_tos:
                # The recipient passed `accepts`: printable, no space, no line break.
                top = f"Return-Path: <{sender}>".encode() + newline
                top += f"Delivered-To: {recipient.lower()}".encode() + newline
                # Disk writes off the event loop: other connections go on meanwhile.
                await loop.run_in_executor(None, self.spool.deliver, top + content)
        except OSError as error:
            log.error(
                "inbound listener: cannot write to the spool %s: %s", self.spool.folder, error
            )
            return "451 4.3.0 Cannot store the message now, try again later"
        log.info("inbound listener: message for %s spooled", ", ".join(envelope.rcpt_tos))
        return "250 2.0.0 OK: stored"


class InboundListener:
    """The SMTP listener on `host:port`, in a thread of its own (aiosmtpd's Controller)."""

    def __init__(
        self,
        host: str,
        port: int,
        spool: Path,
        mailboxes: Mailboxes,
        max_size: int = MAX_MESSAGE_BYTES,
    ) -> None:
        from aiosmtpd.controller import Controller

        # aiosmtpd logs every connection and command at INFO ("mail.log"); the service's log
        # keeps one line per stored message, from this module, instead.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.where = f"{host}:{port}"
        self._host, self._port = host, port
        self._running = False
        self.spool = Spool(spool)
        self._controller = Controller(
            _Handler(mailboxes, self.spool),
            hostname=host,
            port=port,
            data_size_limit=max_size,
            enable_SMTPUTF8=True,
            ident="newsletter inbound",
            ready_timeout=10.0,
        )

    def start(self) -> None:
        """Listen; NewsletterError when the address cannot be bound."""
        try:
            # aiosmtpd reports a taken port only after its whole ready_timeout: try it first.
            _try_bind(self._host, self._port)
            self._controller.start()
        except (OSError, RuntimeError, TimeoutError) as error:
            self._controller.stop(no_assert=True)
            self._controller.loop.close()
            raise NewsletterError(
                f"the inbound SMTP listener could not listen on {self.where}: {error}",
                hint='choose a free address for inbound_listen, or set it to "" (off)',
            ) from None
        self._running = True
        log.info("inbound listener on %s, spooling into %s", self.where, self.spool.folder)

    def stop(self) -> None:
        """Stop listening; a message being received is refused (its sender tries again)."""
        if self._running:
            self._running = False
            self._controller.stop()


def _try_bind(host: str, port: int) -> None:
    """OSError when `host:port` cannot be listened on (taken, or no such local address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # As asyncio binds.
        probe.bind((host, port))
        probe.listen(1)


def listener_of(project: Project) -> InboundListener | None:
    """The listener `inbound_listen` configures, not yet started; None when it is off."""
    config = project.config
    if not config.inbound_listen:
        return None
    host, _, port = config.inbound_listen.rpartition(":")
    mailboxes = Mailboxes.of(config.bounce_address, config.unsubscribe_mailbox)
    return InboundListener(host.strip("[]"), int(port), spool_of(project), mailboxes)


def spool_of(project: Project) -> Path:
    """The listener's Maildir spool (`inbound_spool`, relative to the project folder)."""
    return project.root / project.config.inbound_spool
