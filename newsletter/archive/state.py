"""What an archive build remembers for the next one, kept beside the output in one JSON file.

A rebuild reads it to know which issues changed since (by their files' size, time and hash),
what it wrote (so it rewrites only files whose bytes change, and removes what no longer
belongs), and the feed entries it rendered. When the theme, catalogs, configuration or code
change, the state is dropped and everything is built again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.files import atomic_write_text

log = logging.getLogger(__name__)
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

    @classmethod
    def load(cls, out: Path, inputs: str) -> State:
        """The saved state of `out`, or an empty one when it is missing, unreadable or stale."""
        try:
            data = json.loads((out / STATE_FILE).read_text("utf-8"))
            if data.get("version") != VERSION:
                return cls(inputs)
            if data.get("inputs") != inputs:
                # Every page is made again; what was written is still known, so files that
                # come out the same are left alone and those no longer made are removed.
                return cls(inputs, files=data["files"])
            return cls(
                inputs=inputs,
                issues={
                    path: IssueRecord(
                        **{**record, "entries": [Entry(**entry) for entry in record["entries"]]}
                    )
                    for path, record in data["issues"].items()
                },
                files=data["files"],
                articles=data["articles"],
            )
        except FileNotFoundError:
            return cls(inputs)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("ignoring the unreadable %s (%s): building everything", STATE_FILE, error)
            return cls(inputs)

    def save(self, out: Path) -> None:
        """Write the state into `out`, atomically."""
        # Shallow copies: dataclasses.asdict deep-copies every list, ten times slower here.
        issues = {
            path: {**vars(record), "entries": [vars(entry) for entry in record.entries]}
            for path, record in self.issues.items()
        }
        data = {"version": VERSION, **vars(self), "issues": issues}
        atomic_write_text(out / STATE_FILE, json.dumps(data, ensure_ascii=False, sort_keys=True))
