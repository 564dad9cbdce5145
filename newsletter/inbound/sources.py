"""Mailboxes the processor reads: one protocol (`Source`), opened from a URL (`open_source`).

imap://USER@HOST/MAILBOX, imaps://...    an IMAP mailbox (inbound/imap.py)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from newsletter.errors import NewsletterError
from newsletter.redaction import shown_url


class Source(Protocol):
    """A mailbox of inbound messages: read oldest first, each finished once its outcome is stored."""

    name: str
    """Shown in logs and stored as the event source (any password hidden)."""

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(key, raw message) of each message to process, oldest first."""
        ...

    def finish(self, key: str, kept: bool) -> None:
        """After the outcome is stored: kept=False moves the message to the processed folder
        (or flags it); kept=True (unmatched, unreadable) leaves it for a human, flagged."""
        ...

    def close(self) -> None:
        """Release the mailbox (log out, close the file)."""
        ...


def open_source(url: str, secrets: Mapping[str, str], root: Path) -> Source:
    """The source `url` names, relative paths relative to `root`; NewsletterError when unknown."""
    scheme = url.partition(":")[0].lower()
    if scheme in ("imap", "imaps"):
        from newsletter.inbound.imap import open_imap

        return open_imap(url, secrets, root)
    raise NewsletterError(
        f"inbound source {shown_url(url)}: unknown kind of source",
        hint="use imap://USER@HOST/INBOX or imaps://USER@HOST/INBOX",
    )
