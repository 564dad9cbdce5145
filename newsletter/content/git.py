"""Which git commit content comes from: recorded with each send, so a send can be traced."""

from __future__ import annotations

import subprocess
from pathlib import Path


def content_commit(path: Path) -> tuple[str, bool]:
    """(HEAD commit of the repository holding `path`, whether `path` has uncommitted changes).

    ("", False) when `path` is not in a git repository or git is not installed.
    """
    folder = path if path.is_dir() else path.parent
    head = _git(folder, "rev-parse", "--verify", "HEAD")
    if head is None:
        return "", False
    changes = _git(folder, "status", "--porcelain", "--", str(path.resolve()))
    return head, bool(changes)


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
