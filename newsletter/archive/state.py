"""What an archive build remembers for the next one, kept beside the output in one JSON file.

A rebuild reads it to know which issues changed since (by their files' size, time and hash),
what it wrote (so it rewrites only files whose bytes change, and removes what no longer
belongs), and the feed entries it rendered. When the theme, catalogs, configuration or code
change, the state is dropped and everything is built again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.content.source import file_names
from newsletter.errors import NewsletterError
from newsletter.files import atomic_write_text

STATE_FILE = ".newsletter-archive.json"
VERSION = 1


@dataclass
class Entry:
    """What the indexes, feeds and sitemap need of one issue in one locale."""

    slug: str
    locale: str
    title: str
    summary: str
    date: str | None
    """ISO 8601 with its offset, from the front matter; None when it gives none."""
    updated: str | None
    authors: list[str]
    tags: list[str]
    image: str
    """The hero image's absolute URL, or ""."""
    minutes: int


@dataclass
class IssueRecord:
    """One issue as the last build saw it."""

    slug: str
    status: str
    digest: str
    """Of every file the issue is made of or links to."""
    files: dict[str, list[Any]]
    """File (relative to the project folder) -> [size, mtime_ns, hash]."""
    sources: list[str]
    """The files found by looking at the issue alone (its Markdown, its folder): a new
    translation shows as a change of this list."""
    entries: list[Entry]
    outputs: list[str] = field(default_factory=list)
    """Files of the archive made from this issue alone (its pages and files)."""
    navigation: dict[str, str] = field(default_factory=dict)
    """Locale -> the key of the previous/next navigation its page holds (navigation.py)."""


@dataclass
class State:
    """The state of one output folder."""

    inputs: str
    """Digest of what every page depends on: configuration, theme, catalogs, code."""
    issues: dict[str, IssueRecord] = field(default_factory=dict)
    """By the issue's path relative to the issues folder."""
    files: dict[str, list[Any]] = field(default_factory=dict)
    """Archive path -> [hash, size, mtime_ns] as written, and for the pages made from several
    issues the digest of what they were made from (see Output.make)."""
    articles: dict[str, list[str]] = field(default_factory=dict)
    """`slug/locale` -> [issue digest, feed content] for the entries in feeds."""
    saved: str = field(default="", compare=False)
    """The state file as it was read (a build that changed nothing leaves it alone)."""

    @classmethod
    def load(cls, out: Path, inputs: str) -> State:
        """The saved state of `out`; an empty one for a new folder. NewsletterError when `out`
        holds files but no usable state: removing what no longer belongs needs to know what
        was written, and a build must never delete files it did not write."""
        path = out / STATE_FILE
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            if any(not name.startswith(".") for name in file_names(out)):
                raise NewsletterError(
                    "holds files but no archive built here",
                    path=out,
                    hint="build into an empty folder, or empty this one",
                ) from None
            return cls(inputs)
        try:
            state = cls._parse(json.loads(text), inputs)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise NewsletterError(
                f"the state of the last build is unreadable ({error})",
                path=path,
                hint="empty the folder and build again",
            ) from error
        state.saved = text
        return state

    @classmethod
    def _parse(cls, data: dict[str, Any], inputs: str) -> State:
        if data["version"] != VERSION:
            raise ValueError(f"version {data['version']}, not {VERSION}")
        files = {str(k): list(v) for k, v in data["files"].items()}
        if any(len(v) < 3 for v in files.values()):
            raise ValueError("a file without its hash, size and time")
        if data["inputs"] != inputs:
            # Every page is made again; what was written is still known, so files that come out
            # the same are left alone and those no longer made are removed.
            return cls(inputs, files=files)
        issues = {
            str(path): IssueRecord(
                **{**record, "entries": [Entry(**entry) for entry in record["entries"]]}
            )
            for path, record in data["issues"].items()
        }
        return cls(inputs, issues, files, dict(data["articles"]))

    def save(self, out: Path) -> None:
        """Write the state into `out`, atomically."""
        # Shallow copies: dataclasses.asdict deep-copies every list, ten times slower here.
        issues = {
            path: {**vars(record), "entries": [vars(entry) for entry in record.entries]}
            for path, record in self.issues.items()
        }
        data = {"version": VERSION, **vars(self), "issues": issues}
        del data["saved"]
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        if text != self.saved:
            atomic_write_text(out / STATE_FILE, text)
            self.saved = text
