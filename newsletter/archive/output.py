"""The archive's output folder: files are staged in memory, then only changed ones are written.

Nothing is written until the whole build has succeeded; each file is replaced atomically, so a
reader (or `newsletter run` serving the folder) never sees half a page. A file is rewritten
when its bytes differ from what was written last time or when it was changed or deleted since.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.archive.layout import is_inside
from newsletter.errors import NewsletterError
from newsletter.files import atomic_copy, atomic_write_bytes

WRITE_THREADS = min(4, os.cpu_count() or 1)
"""Threads writing files: creating a file is mostly the kernel's work, done on any core."""
WRITE_THREADS_FROM = 16
"""Folders to write before threads pay for themselves (a rebuild after an edit writes a few)."""


@dataclass
class Report:
    """What a build did to the output folder."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    issues: int = 0
    """Issues in the archive."""
    rendered: int = 0
    """Issues whose pages were rendered by this build (the rest were unchanged)."""
    skipped: list[str] = field(default_factory=list)
    """Issues that do not read and were never published, each with its error."""


class Output:
    """The files one build wants in `folder`, against what the last build wrote there."""

    def __init__(self, folder: Path, written: dict[str, list[Any]]) -> None:
        self.folder = folder
        self.before = written
        self.pending: dict[str, bytes | Path] = {}
        self.hashes: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.kept: set[str] = set()

    def intact(self, path: str) -> bool:
        """Whether `path` is as the last build left it (same size and time)."""
        known = self.before.get(path)
        if not known:
            return False
        try:
            stat = (self.folder / path).stat()
        except OSError:
            return False
        return bool(stat.st_size == known[1] and stat.st_mtime_ns == known[2])

    def keep(self, path: str) -> None:
        """Keep `path` as it is: it is part of this build, and unchanged."""
        self.kept.add(path)

    def make(self, path: str, key: str, make: Callable[[], bytes]) -> None:
        """Want what `make()` returns at `path`; `key` is a digest of everything it depends on,
        so while the key is the one recorded and the file intact, `make` is not even called."""
        known = self.before.get(path)
        if known and len(known) > 3 and known[3] == key and self.intact(path):
            self.keep(path)
            return
        self.put(path, make())
        self.keys[path] = key

    def put(self, path: str, data: bytes) -> None:
        """Want `data` at `path`."""
        _check(path)
        self.pending[path] = data
        self.hashes[path] = hashlib.blake2b(data, digest_size=16).hexdigest()

    def copy(self, path: str, source: Path, digest: str) -> None:
        """Want a copy of `source` (whose content hash is `digest`) at `path`."""
        _check(path)
        self.pending[path] = source
        self.hashes[path] = digest

    def commit(self) -> tuple[dict[str, list[Any]], Report]:
        """Write what changed, remove what no longer belongs; the new record of the folder."""
        report = Report()
        record: dict[str, list[Any]] = {}
        for path in self.kept - self.pending.keys():
            record[path] = self.before[path]
            report.unchanged += 1
        changed: dict[Path, list[str]] = {}
        for path in sorted(self.pending):
            known = self.before.get(path)
            if known and known[0] == self.hashes[path] and self.intact(path):
                record[path] = [*known[:3], self.keys[path]] if path in self.keys else known[:3]
                report.unchanged += 1
            else:
                changed.setdefault((self.folder / path).parent, []).append(path)
        for path, stat in self._write(changed):
            record[path] = [self.hashes[path], stat.st_size, stat.st_mtime_ns]
            if path in self.keys:
                record[path].append(self.keys[path])
            report.written.append(path)
        for path in sorted(self.before.keys() - record.keys()):
            if not is_inside(path):
                continue  # Not written by a build: a state file edited by hand.
            (self.folder / path).unlink(missing_ok=True)
            _prune(self.folder, (self.folder / path).parent)
            report.removed.append(path)
        return record, report

    def _write(self, changed: dict[Path, list[str]]) -> list[tuple[str, os.stat_result]]:
        """Write the files of each folder (made first, when new), the folders by several
        threads; each written path with its stat, in path order.

        A first build makes a thousand folders and files; creating each is a few system calls
        whose time is spent in the kernel, without the GIL: threads run them on every core
        (on a busy disk, 0.84 s instead of 1.35 s for 1,050 files; docs/benchmarks.md).
        """

        def write_folder(folder: Path, paths: list[str]) -> list[tuple[str, os.stat_result]]:
            folder.mkdir(parents=True, exist_ok=True)
            written = []
            for path in paths:
                content, target = self.pending[path], self.folder / path
                if isinstance(content, Path):
                    written.append((path, atomic_copy(content, target)))
                else:
                    written.append((path, atomic_write_bytes(target, content)))
            return written

        if WRITE_THREADS < 2 or len(changed) < WRITE_THREADS_FROM:
            done = [write_folder(folder, paths) for folder, paths in changed.items()]
        else:
            with ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="archive-write") as pool:
                done = list(pool.map(write_folder, changed.keys(), changed.values()))
        return sorted((item for items in done for item in items), key=lambda item: item[0])


def _check(path: str) -> None:
    if not is_inside(path):
        raise NewsletterError(
            f"the archive would write {path!r}, outside its folder",
            hint="give the issue a plain `slug:`, and link files inside its folder",
        )


def _prune(root: Path, folder: Path) -> None:
    """Remove `folder` and its parents up to `root` while they are empty."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
