"""The errors library code raises; the CLI prints them as one line plus a hint."""

from __future__ import annotations

import os
from pathlib import Path


class NewsletterError(Exception):
    """A problem the user can fix: it names the file, the line and the fix."""

    def __init__(
        self,
        message: str,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = hint

    def __reduce__(self) -> tuple[type[NewsletterError], tuple[object, ...]]:
        # Pickled with all its fields, so an error raised in a worker process arrives whole.
        return (type(self), (self.message, self.path, self.line, self.hint))

    @property
    def location(self) -> str:
        """`path:line` (or just `path`), relative to the working directory when possible."""
        if self.path is None:
            return ""
        shown = display_path(self.path)
        return f"{shown}:{self.line}" if self.line else shown

    def __str__(self) -> str:
        where = self.location
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (fix: {self.hint})" if self.hint else text


class ConfigError(NewsletterError):
    """The configuration file or environment holds invalid settings."""


class ContentError(NewsletterError):
    """A story or issue file cannot be read as an issue."""


class DatabaseError(NewsletterError):
    """The database cannot be opened or written: its URL (password hidden), why, the fix."""


class DatabaseGone(DatabaseError):
    """The database server cannot be reached, or cut the connection: it may be back in a
    moment (a restart, a failover), so a send under way waits for it (db.through_outage)."""


class ConflictError(NewsletterError):
    """What was asked for exists already (a schedule with that id): the web app answers 409."""


class NotFoundError(NewsletterError):
    """An issue, story or file named on the command line does not exist."""


def display_path(path: Path) -> str:
    """The path relative to the working directory if it lies below it, else as given; bytes
    of its name that are not UTF-8 as `\\xNN` (`readable`)."""
    try:
        return readable(str(path.resolve().relative_to(Path.cwd().resolve())))
    except ValueError:
        return readable(str(path))


def readable(name: str) -> str:
    """A file name as text that prints and stores: bytes that are not UTF-8 (on Linux a name is
    bytes; Python keeps those as lone surrogates, which no output or database takes) as `\\xNN`."""
    if name.isascii():
        return name
    return os.fsencode(name).decode("utf-8", "backslashreplace")
