"""Atomic writes: a command that fails leaves no half-written file or folder behind."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.errors import NewsletterError


def _file_mode() -> int:
    """The mode a new file gets here (0o644 under the usual umask of 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


# mkstemp makes files readable by their owner only; published files (the archive, a build
# served by a web server running as another user) need the mode any new file gets.
FILE_MODE = _file_mode()


def atomic_write_text(path: Path, text: str, private: bool = False) -> None:
    """Write `text` to `path` through a temporary file in the same folder, then rename it."""
    atomic_write_bytes(path, text.encode("utf-8"), private)


def atomic_write_bytes(path: Path, data: bytes, private: bool = False) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename it;
    `private` files (personal data) are readable by their owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if not private:
                os.fchmod(stream.fileno(), FILE_MODE)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
