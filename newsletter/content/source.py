"""Find issue files on disk and read them as text, with clear errors for unreadable files."""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import ContentError, NotFoundError
from newsletter.locales import is_locale, match_locale

MARKDOWN_SUFFIXES = (".md", ".markdown")
ISSUE_FILE = "issue"
STORIES_DIR = "stories"


@dataclass(frozen=True)
class SourceName:
    """A content file name split into its base name and optional locale: `01-sora.zh.md`."""

    base: str
    locale: str | None


def read_source(path: Path) -> str:
    """The file's text with Unix line ends and no BOM; ContentError if unreadable, not UTF-8 or empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ContentError("file not found", path=path, hint="check the path") from error
    except IsADirectoryError as error:
        raise ContentError("is a folder, not a Markdown file", path=path) from error
    except OSError as error:
        raise ContentError(f"cannot read the file: {error.strerror}", path=path) from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ContentError(
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} at byte {error.start})",
            path=path,
            line=line,
            hint="save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
        ) from error
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ContentError(
            "is empty",
            path=path,
            line=1,
            hint="write the issue's front matter and text, or delete the file",
        )
    return text


def split_name(path: Path, locales: Sequence[str]) -> SourceName:
    """`01-sora.zh.md` -> (`01-sora`, `zh`); a suffix that is no locale stays part of the name."""
    stem = path.name
    for suffix in (*MARKDOWN_SUFFIXES, ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return SourceName(base=stem, locale=None)  # `weekly.md.bak` is no translation.
    base, dot, tail = stem.rpartition(".")
    if dot and base and _looks_like_locale(tail, locales):
        return SourceName(base=base, locale=match_locale(tail, locales))
    return SourceName(base=stem, locale=None)


def is_markdown(path: Path) -> bool:
    """Whether the file name ends like a Markdown file."""
    return path.suffix.lower() in MARKDOWN_SUFFIXES


def file_names(folder: Path) -> list[str]:
    """The names in `folder`, sorted ([] when it is no folder): strings, not Paths, because a
    folder of a thousand issues is searched once per issue for translations."""
    return sorted(os.listdir(folder)) if folder.is_dir() else []  # noqa: PTH208


def translation_candidates(path: Path, base: str, names: Sequence[str]) -> list[Path]:
    """Markdown files named `BASE.something.md` beside `path` (`names`: the names in its folder,
    sorted): the candidates for its translations."""
    prefix, suffix = base + ".", path.suffix.lower()
    found = []
    # The names sharing the prefix sit together in sorted order: a folder of a thousand issues
    # is not scanned once per issue.
    for position in range(bisect_left(names, prefix), len(names)):
        if not names[position].startswith(prefix):
            break
        sibling = path.parent / names[position]
        if (
            sibling != path
            and (is_markdown(sibling) or sibling.suffix.lower() == suffix)
            and sibling.is_file()
        ):
            found.append(sibling)
    return found


def discover_issue_paths(issues_dir: Path, locales: Sequence[str]) -> list[Path]:
    """Every issue under `issues_dir`: folders with an issue file, and Markdown files (not translations)."""
    if not issues_dir.is_dir():
        return []
    found: list[Path] = []
    for entry in sorted(issues_dir.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if (
            entry.is_dir()
            and any(
                split_name(p, locales).base == ISSUE_FILE for p in entry.iterdir() if is_markdown(p)
            )
        ) or (entry.is_file() and is_markdown(entry) and split_name(entry, locales).locale is None):
            found.append(entry)
    return found


def _looks_like_locale(tag: str, locales: Sequence[str]) -> bool:
    if not 2 <= len(tag) <= 10 or not tag.replace("_", "").replace("-", "").isalpha():
        return False
    return is_locale(tag)


def find_issue_path(issues_dir: Path, name: str, locales: Sequence[str]) -> Path:
    """The issue a user named: a path, a folder or file name in `issues_dir`, or a slug."""
    given = Path(name)
    if given.exists():
        return given
    for candidate in (issues_dir / name, *(issues_dir / f"{name}{s}" for s in MARKDOWN_SUFFIXES)):
        if candidate.exists():
            return candidate
    from newsletter.content.slugs import make_slug

    for path in discover_issue_paths(issues_dir, locales):
        if make_slug(split_name(path, locales).base) == make_slug(name):
            return path
    raise NotFoundError(
        f"no issue named {name!r} in {issues_dir.name}/",
        hint="run `newsletter list` to see the issues, or give a path",
    )
