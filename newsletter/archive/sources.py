"""What an archive build reads: each issue's files, and the inputs every page shares.

A file counts as unchanged when its size and modification time are the ones recorded, or else
when its content hash is (a `git checkout` or `touch` changes the time, not the content).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from stat import S_ISREG
from typing import Any

import newsletter
from newsletter.config import Project
from newsletter.content.source import split_name, translation_candidates
from newsletter.render.i18n import CATALOGS
from newsletter.render.templates import theme_search_path

CODE = Path(newsletter.__file__).resolve().parent
# The code that shapes a page: a change to it (an upgrade) rebuilds everything.
CODE_PARTS = ("archive", "content", "render")
# The libraries that shape a page, likewise: an upgrade may change what they write.
LIBRARIES = (
    "markdown-it-py", "mdit-py-plugins", "nh3", "jinja2", "babel", "feedgen", "pyyaml",
    "python-slugify", "regex",
)  # fmt: skip


def file_hash(path: Path) -> str:
    """The content hash of a file (hex)."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "blake2b").hexdigest()[:32]


def digest_of(parts: Iterable[str]) -> str:
    """One hash of several strings, in order."""
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogateescape"))
        hasher.update(b"\0")
    return hasher.hexdigest()


def issue_sources(path: Path, names: Sequence[str], locales: Sequence[str]) -> list[Path]:
    """The files an issue is made of, found without reading them: everything in its folder, or
    the Markdown file and its translations beside it (`names`: that folder's names, sorted)."""
    if path.is_dir():
        found: list[Path] = []
        real = path.resolve()
        for folder, folders, files in os.walk(path):
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            found.extend(
                Path(folder) / name
                for name in sorted(files)
                if not name.startswith(".") and _stays_inside(Path(folder) / name, real)
            )
        return found
    return [path, *translation_candidates(path, split_name(path, locales).base, names)]


def _stays_inside(path: Path, folder: Path) -> bool:
    """Whether `path` is no symbolic link leading out of `folder` (that file is never read;
    one linked from the text and allowed is fingerprinted with the links)."""
    return not path.is_symlink() or path.resolve().is_relative_to(folder)


def fingerprint(
    files: Iterable[Path],
    root: Path,
    known: dict[str, list[Any]],
    hashes: Mapping[Path, str] | None = None,
) -> dict[str, list[Any]]:
    """[size, mtime_ns, hash] of each file by its path relative to `root`; the hash is reused
    from `known` when size and time are the same, or taken from `hashes` (computed already)."""
    found: dict[str, list[Any]] = {}
    for path in files:
        key = relative_key(path, root)
        try:
            stat = path.stat()
        except OSError:
            stat = None
        if stat is None or not S_ISREG(stat.st_mode):
            found[key] = [-1, 0, ""]  # Missing (or no file): it counts as a change when it comes.
            continue
        before = known.get(key)
        if before and before[0] == stat.st_size and before[1] == stat.st_mtime_ns:
            found[key] = before
        else:
            digest = hashes.get(path) if hashes else None
            found[key] = [stat.st_size, stat.st_mtime_ns, digest or file_hash(path)]
    return found


def same_content(now: dict[str, list[Any]], before: dict[str, list[Any]]) -> bool:
    """Whether two fingerprints name the same files with the same content."""
    return now.keys() == before.keys() and all(now[k][2] == before[k][2] for k in now)


def relative_key(path: Path, root: Path) -> str:
    """`path` relative to `root` (absolute) in POSIX form, or absolute when it lies outside."""
    # String operations: resolving each of thousands of paths costs a syscall per component.
    absolute = str(path.absolute())
    prefix = str(root) + os.sep
    return (absolute[len(prefix) :] if absolute.startswith(prefix) else absolute).replace(
        os.sep, "/"
    )


def shared_inputs(project: Project, base_url: str) -> str:
    """Digest of what every page depends on: settings, theme templates, catalogs and code."""
    files = [
        *(
            path
            for folder in theme_search_path(project.root, project.config.theme)
            for path in sorted(folder.rglob("*"))
        ),
        *sorted(CATALOGS.rglob("*.po")),
    ]
    if project.config.logo and "://" not in project.config.logo:
        files.append(project.root / project.config.logo)  # Pages link it by its content hash.
    return digest_of(
        [
            project.config.model_dump_json(),
            base_url,
            _running_code(),
            *(f"{path}:{file_hash(path)}" for path in files if path.is_file()),
        ]
    )


@functools.cache
def _running_code() -> str:
    """Digest of the code and libraries that write pages: read once per process, since the
    code running cannot change under it (a server checks for changes every few seconds)."""
    files = [
        CODE / "model.py",
        *(p for part in CODE_PARTS for p in sorted((CODE / part).rglob("*.py"))),
    ]
    return digest_of(
        [
            sys.version,
            *(f"{name} {version(name)}" for name in LIBRARIES),
            *(f"{path}:{file_hash(path)}" for path in files),
        ]
    )
