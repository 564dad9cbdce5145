"""Mailboxes the processor reads bounces, complaints and unsubscribe requests from.

    maildir:DIR   a Maildir (Postfix or Exim local delivery): messages in new/ and cur/;
                  processed ones moved to DIR/.Processed/ (a Maildir++ folder), kept ones
                  flagged (`:2,F`) and left in cur/ for a human; never deleted
    mbox:FILE     an mbox file, read only: for replaying a mailbox (nothing is moved or marked)
    imap://, imaps://   an IMAP mailbox (inbound/imap.py)

Relative paths are relative to the project folder. Every source hands out messages oldest
first and is told what became of each (`finish`) only after its outcome is stored.
"""

from __future__ import annotations

import logging
import mailbox
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)
MAX_MESSAGE = 64 * 1024 * 1024
"""Bytes read of one message: beyond this it is handed over cut (and read as truncated)."""
PROCESSED = ".Processed"
SCHEMES = "maildir:DIR, mbox:FILE, imap://USER@HOST/INBOX or imaps://USER@HOST/INBOX"


class Source(Protocol):
    """A mailbox the processor reads: messages oldest first, each finished once stored."""

    name: str
    """Shown in logs and stored as the events' source."""

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """(key, raw message) of each message to process, oldest first."""
        ...

    def finish(self, key: str, kept: bool) -> None:
        """After the outcome is stored: kept=False, processed (moved away or marked);
        kept=True, unmatched or unreadable: left for a human (flagged, never deleted)."""
        ...

    def close(self) -> None: ...


def open_source(url: str, secrets: Mapping[str, str], root: Path) -> Source:
    """The source `url` names: maildir:DIR, mbox:FILE, imap:// or imaps://."""
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "maildir" and colon and rest:
        return MaildirSource(_local_path(rest, root))
    if scheme == "mbox" and colon and rest:
        return MboxSource(_local_path(rest, root))
    if scheme in ("imap", "imaps"):
        from newsletter.inbound.imap import open_imap

        return open_imap(url, secrets, root)
    raise NewsletterError(f"{url!r} is not an inbound source", hint=f"give one of {SCHEMES}")


def _local_path(text: str, root: Path) -> Path:
    path = Path(text.removeprefix("//")).expanduser()
    return path if path.is_absolute() else root / path


class MaildirSource:
    """A Maildir: new/ and cur/ read oldest first; finished messages renamed, never copied.

    A rename is atomic: a message is in the inbox or in .Processed/, never in both or neither,
    whenever the process is killed.
    """

    def __init__(self, path: Path) -> None:
        if not all((path / sub).is_dir() for sub in ("new", "cur", "tmp")):
            raise NewsletterError(
                f"{path} is not a Maildir (it needs new/, cur/ and tmp/ folders)",
                hint="give the folder your MTA delivers the bounce address to, e.g. maildir:/var/mail/bounces/",
            )
        self.path = path.resolve()
        self.name = f"maildir:{self.path}"
        self.processed = self.path / PROCESSED
        self._ready = False  # .Processed/ made (or found): not looked for at each message.

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Messages of new/ and cur/ not flagged for a human yet, oldest first."""
        found: list[tuple[float, str, str]] = []
        for sub in ("new", "cur"):
            with os.scandir(self.path / sub) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                        continue
                    if "F" in _flags(entry.name):
                        continue  # Kept for a human already: unflag it to have it read again.
                    found.append((entry.stat().st_mtime, entry.name, f"{sub}/{entry.name}"))
        for _, _, key in sorted(found):
            try:
                with (self.path / key).open("rb") as file:
                    yield key, file.read(MAX_MESSAGE)
            except FileNotFoundError:
                continue  # Another pass took it meanwhile.

    def finish(self, key: str, kept: bool) -> None:
        """Move the message to .Processed/cur/ (seen), or flag it in cur/ for a human."""
        sub, _, name = key.partition("/")
        if sub not in ("new", "cur") or "/" in name or not name:
            raise KeyError(key)
        base, flags = name.partition(":")[0], set(_flags(name))
        if kept:
            (self.path / key).rename(self.path / "cur" / _named(base, flags | {"F"}))
            return
        self._make_processed()
        moved = self.processed / "cur" / _named(base, flags | {"S"})
        try:
            (self.path / key).rename(moved)
        except FileNotFoundError:
            self._ready = False  # .Processed/ removed meanwhile: made again (or the message gone).
            self._make_processed()
            (self.path / key).rename(moved)

    def _make_processed(self) -> None:
        """The Maildir++ folder .Processed/ (new, cur, tmp and its maildirfolder marker)."""
        if self._ready or (self.processed / "cur").is_dir():
            self._ready = True
            return
        for sub in ("tmp", "new", "cur"):
            (self.processed / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.processed / "maildirfolder").touch()
        self._ready = True

    def close(self) -> None:
        """Nothing stays open between messages."""


def _flags(name: str) -> str:
    """The flags of a Maildir file name (`...:2,FS` -> `FS`)."""
    info = name.partition(":")[2]
    return info[2:] if info.startswith("2,") else ""


def _named(base: str, flags: set[str]) -> str:
    return f"{base}:2,{''.join(sorted(flags))}"


class MboxSource:
    """An mbox file, read only: every message each time; `finish` records nothing in it.

    For replaying a mailbox: what was processed before is recognized by its digest and
    changes nothing.
    """

    def __init__(self, path: Path) -> None:
        try:
            mode = path.stat().st_mode
        except OSError as error:
            raise NewsletterError(
                f"cannot read the mbox file {path}: {error.strerror}", hint="check the path"
            ) from None
        if not stat.S_ISREG(mode):
            raise NewsletterError(f"{path} is not an mbox file", hint="give the path of a file")
        self.path = path.resolve()
        self.name = f"mbox:{self.path}"

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Every message of the file, in the order written (oldest first)."""
        box = mailbox.mbox(self.path, create=False)
        try:
            for key in box.iterkeys():
                yield str(key), box.get_bytes(key)[:MAX_MESSAGE]
        finally:
            box.close()

    def finish(self, key: str, kept: bool) -> None:
        """Nothing: the file is read only."""

    def close(self) -> None:
        """Nothing stays open between passes."""
