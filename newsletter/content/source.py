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
    folder = issues_dir.resolve()
    for entry in sorted(issues_dir.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_symlink() and entry.resolve().parent == folder:
            continue  # A second name of an issue listed under its own: not another issue.
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


def find_issue_path(
    issues_dir: Path, name: str, locales: Sequence[str], *, elsewhere: bool = True
) -> Path:
    """The issue a user named: a path, a folder or file name in `issues_dir`, or a slug.

    Every name of one issue of `issues_dir` gives the same path, its entry in the folder
    (`issues/X/issue.zh.md`, `./issues/X/`, its absolute path, a link beside it: `issues/X`),
    so the issue has one slug however it was named: a sent issue is never sent again under
    another. A path outside `issues_dir` is returned as given when `elsewhere` (`check` and
    `build` read issues anywhere), else refused like a name that is no issue.
    """
    given = Path(name)
    named = [given, *(Path(name + suffix) for suffix in MARKDOWN_SUFFIXES)] if name.strip() else []
    in_folder = [issues_dir / name, *(issues_dir / f"{name}{s}" for s in MARKDOWN_SUFFIXES)]
    for candidate in (*named, *in_folder) if name.strip() else ():
        if candidate.exists():
            entry = issue_entry(issues_dir, candidate, locales)
            if entry is not None:
                return entry
    from newsletter.content.slugs import make_slug

    wanted = make_slug(name)
    for path in discover_issue_paths(issues_dir, locales) if wanted else ():
        if make_slug(split_name(path, locales).base) == wanted:
            return path
    existing = next((path for path in named if path.exists()), None)
    if existing is not None and elsewhere:
        return existing
    raise NotFoundError(
        f"no issue named {name!r}{_why_not(issues_dir, existing, locales)}",
        hint="run `newsletter list` to see the issues, and name one by its slug, folder or file",
    )


def issue_entry(issues_dir: Path, path: Path, locales: Sequence[str]) -> Path | None:
    """The issue of `issues_dir` that `path` names (its folder, its issue file or a translation
    of it, a single-file issue or its translation), as listed in the folder; None for any
    other path."""
    found = _entry_and_rest(issues_dir, path)
    if found is None:
        return None
    entry, rest = found
    if entry.is_dir():
        if not _issue_files(entry, locales):
            return None
        if not rest or (len(rest) == 1 and (entry / rest[0]) in _issue_files(entry, locales)):
            return entry
        return None
    if rest or not is_markdown(entry):
        return None
    parts = split_name(entry, locales)
    if parts.locale is None:
        return entry
    originals = (issues_dir / f"{parts.base}{suffix}" for suffix in MARKDOWN_SUFFIXES)
    return next((original for original in originals if original.is_file()), entry)


def _entry_and_rest(issues_dir: Path, path: Path) -> tuple[Path, tuple[str, ...]] | None:
    """The entry of `issues_dir` that `path` lies in (a link to another entry: that entry), and
    the rest of the path below it; None when `path` is not below `issues_dir`."""
    folder = issues_dir.resolve()
    target = path.resolve()
    try:
        parts = target.relative_to(folder).parts
    except ValueError:
        # A link to an issue kept elsewhere in the project: named by its entry, lexically.
        lexical = Path(os.path.abspath(path))  # noqa: PTH100 (`..` undone, links kept)
        try:
            parts = lexical.relative_to(Path(os.path.abspath(issues_dir))).parts  # noqa: PTH100
        except ValueError:
            return None
    if not parts or parts[0].startswith((".", "_")):
        return None
    entry = issues_dir / parts[0]
    if not entry.exists():
        # A case-insensitive file system: the entry under the name the folder lists.
        entry = next((e for e in issues_dir.iterdir() if e.exists() and e.samefile(entry)), entry)
    if not entry.exists() or not target.exists() or not entry.joinpath(*parts[1:]).samefile(path):
        return None
    return entry, parts[1:]


def _issue_files(folder: Path, locales: Sequence[str]) -> list[Path]:
    """The issue files of an issue folder: `issue.md` and its translations."""
    return [
        path
        for path in folder.iterdir()
        if is_markdown(path) and split_name(path, locales).base == ISSUE_FILE and path.is_file()
    ]


def _why_not(issues_dir: Path, existing: Path | None, locales: Sequence[str]) -> str:
    """Why a path that exists is no issue: a story of one, or not in the issues folder."""
    if existing is None:
        return f" in {issues_dir.name}/"
    for folder in existing.resolve().parents:
        if folder.parent == issues_dir.resolve() and _issue_files(folder, locales):
            return f": it is a story of issue {folder.name}"
    return f": it is no issue folder or file in {issues_dir.name}/"
