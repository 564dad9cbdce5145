"""Atomic writes: a command that fails leaves no half-written file or folder behind."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.errors import NewsletterError

HIDDEN = "a hidden file or folder"


def within(path: str, folder: str) -> bool:
    """Whether the absolute `path` is `folder` or below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def outside_refusal(written: str, real: str, bound: str, bound_name: str, *homes: str) -> str:
    """Why the file written as `written` (absolute, normalized) whose real path is `real` may
    not be read from below `bound` (`outside the project folder`, or `a symbolic link to a
    file outside ...` when what was written lies in `bound` or one of `homes`), or ""."""
    if within(real, bound):
        return ""
    linked = any(within(written, folder) for folder in (bound, *homes))
    return f"{'a symbolic link to a file ' if linked else ''}outside {bound_name}"


def project_file_refusal(root: Path, relative: str) -> str:
    """Why the project file `relative` (to the project folder `root`) may not be read, or ""
    when it may: its real path (symbolic links followed) must lie in the project folder and
    name no hidden file or folder. The rule of content/local_files.py, for the files the
    configuration names (the logo)."""
    top = os.path.abspath(root)  # noqa: PTH100 (strings: the rule is string-based)
    real_top = os.path.realpath(top)
    written = os.path.normpath(os.path.join(top, relative))  # noqa: PTH118
    real = os.path.realpath(written)
    outside = outside_refusal(written, real, real_top, "the project folder", top)
    if outside:
        return f"is {outside}"
    below = Path(real).relative_to(real_top).parts
    if any(part.startswith(".") for part in below):
        shown = f" ({Path(real).relative_to(real_top)})" if real != written else ""
        return f"is {HIDDEN}{shown}"
    return ""


def atomic_write_text(path: Path, text: str, private: bool = False) -> os.stat_result:
    """Write `text` to `path` through a temporary file in the same folder, then rename it."""
    return atomic_write_bytes(path, text.encode("utf-8"), private)


def atomic_write_bytes(path: Path, data: bytes, private: bool = False) -> os.stat_result:
    """Write `data` to `path` through a temporary file in the same folder, then rename it;
    `private` files (personal data) are readable by their owner only. The written file's stat.
    """
    # A new file gets the mode any file gets here (0644 under the usual umask), so a web server
    # running as another user can read published files; personal data stays the owner's.
    mode = 0o600 if private else 0o666
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        handle = os.open(temporary, flags, mode)
    except FileNotFoundError:  # The folder is new: made only then, saving a call per file.
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, flags, mode)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path.stat()  # After closing: some file systems (NFS) set the time on close.


def atomic_copy(source: Path, target: Path) -> os.stat_result:
    """Copy `source` to `target` through a temporary file beside it, then rename it; the
    copy's stat."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        shutil.copyfile(source, temporary)
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target.stat()


@contextmanager
def new_directory(path: Path) -> Iterator[Path]:
    """Build a folder under a temporary name and move it to `path` only if the block succeeds."""
    if path.exists():
        raise NewsletterError(
            "already exists", path=path, hint="choose another slug, or move the existing one away"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp, which makes it private) so the folder gets the usual umask permissions.
    staging = path.parent / f".{path.name}.{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        yield staging
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fingerprint(paths: Iterable[Path]) -> str:
    """A digest of the name, size and modification time of each of `paths` and of every file
    below those that are folders (hidden folders left out); a path that is gone counts as
    nothing. What tells a cache that the files it was made from changed."""
    digest = hashlib.sha1()
    for path in paths:
        if path.is_dir():
            for base, folders, names in os.walk(path):
                folders[:] = sorted(name for name in folders if not name.startswith("."))
                for name in sorted(names):
                    _stamp(digest, Path(base, name))
        else:
            _stamp(digest, path)
    return digest.hexdigest()


def _stamp(digest: hashlib._Hash, path: Path) -> None:
    try:
        stat = path.stat()
    except OSError:
        return
    digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
