"""Which local files an issue may bring into its output: the one rule for every reader of links.

A relative link (or `image:`) is resolved against the Markdown file that holds it, symbolic
links followed; the real path must lie inside the project folder (an issue that lies outside
any project is bound by its own folder) and name no hidden file or folder (`.git`, `.ssh`,
`.env`). Anything else is refused: the build, the archive and the email never read it,
`newsletter check` names it as an error, and `newsletter import` does not copy it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from newsletter.files import HIDDEN, outside_refusal
from newsletter.files import within as _within

# The kinds of local files a page may link that are copied beside it and published: media and
# documents. Never Markdown (a draft), a database, a configuration file or a key.
PUBLISHED_SUFFIXES = frozenset(
    [
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp", ".tif",
        ".tiff", ".pdf", ".mp3", ".m4a", ".ogg", ".oga", ".wav", ".flac", ".mp4", ".m4v",
        ".webm", ".ogv", ".mov", ".vtt", ".zip", ".epub",
    ]
)  # fmt: skip


def issue_root(issue_path: Path) -> Path:
    """The folder an issue's relative files are resolved in: the issue folder, or a file's folder."""
    return issue_path if issue_path.is_dir() else issue_path.parent


@dataclass(frozen=True)
class LocalFile:
    """A local file a link names, where it really is, and whether it may be read."""

    path: Path
    """The real path (symbolic links resolved)."""
    inside: str
    """Its path inside the issue (`images/hero.jpg`), or `_/NAME` for a project file outside."""
    refused: str = ""
    """Why it may not be read (outside the project, a hidden file), or "" when it may."""

    @property
    def published(self) -> bool:
        """Whether a build copies it beside the page: allowed, a media file or document, there."""
        return (
            not self.refused
            and self.path.suffix.lower() in PUBLISHED_SUFFIXES
            and self.path.is_file()
        )


_COMPUTER_FOLDERS = re.compile(
    r"/(?:home/[^/]+/.|Users/.|root/.|tmp/.|etc/.|var/.|private/.|Volumes/.|mnt/."
    r"|[A-Za-z]:[/\\]|[A-Za-z]\|/)"
    r"|[A-Za-z]:[/\\]"
)
"""The folders of a computer a site-absolute path can start with: a home (`/home/ada/...`,
`/Users/ada/...`, `/root/...`), temporary and system folders, mounted disks, a Windows drive
(`C:/...`, `/C:/...`)."""


def is_computer_path(site_path: str) -> bool:
    """Whether a path (percent-decoded) names a folder of a computer, not a page
    of the site: it starts with one of `_COMPUTER_FOLDERS` (`/Users/ada/chart.png`). Such a link
    is dropped (`check` says so); any other (`/home`, `/about`, `/bin`) is a link on the site.
    Decided by the string alone: the build machine's disk never changes what is published."""
    return _COMPUTER_FOLDERS.match(site_path) is not None


class IssueFiles:
    """The rule for one issue: its folder, and the folder its linked files must lie in.

    Paths are handled as strings: an archive of a thousand issues asks this for every link,
    and pathlib's operations cost several times the system calls.
    """

    def __init__(
        self, issue_path: Path, project_root: Path | None, bound_name: str = "the project folder"
    ) -> None:
        written = os.path.normpath(issue_root(issue_path).absolute())
        self._root = os.path.realpath(written)
        project = os.path.realpath(project_root) if project_root is not None else None
        # An issue folder in the project that is a link to elsewhere is still bound by the
        # project (so its files are refused); an issue named outside any project, by itself.
        inside = project is not None and (_within(written, project) or _within(self._root, project))
        self._bound = project if project is not None and inside else self._root
        self.bound_name = bound_name if self._bound == project else "the issue's folder"
        """What the bound is called in messages (the importer's is the site folder)."""

    @property
    def root(self) -> Path:
        """The issue's folder (real path)."""
        return Path(self._root)

    @property
    def bound(self) -> Path:
        """The folder every file must really lie in."""
        return Path(self._bound)

    def find(self, relative: str, source: Path) -> LocalFile:
        """The file `relative` (a percent-decoded link path) names from the Markdown `source`."""
        # Even a path written as absolute is taken as relative to the Markdown file.
        written = os.path.normpath(f"{source.parent.absolute()}{os.sep}{relative}")
        try:
            real = os.path.realpath(written)
        except (OSError, ValueError):  # A NUL byte.
            name = written.rpartition(os.sep)[2]
            return LocalFile(Path(written), f"_/{name}", "a path that cannot be resolved")
        name = real.rpartition(os.sep)[2]
        # Anything under the issue or project folder that leads out of it is a link.
        outside = outside_refusal(written, real, self._bound, self.bound_name, self._root)
        if outside:
            return LocalFile(Path(real), f"_/{name}", outside)
        base = self._root if _within(real, self._root) else self._bound
        below = real[len(base) :].lstrip(os.sep).replace(os.sep, "/").split("/")
        # Elsewhere in the project than the issue's folder: published under a side folder.
        inside = "/".join(below) if base == self._root else f"_/{name}"
        if any(part.startswith(".") for part in below):
            return LocalFile(Path(real), inside, HIDDEN)
        return LocalFile(Path(real), inside)

    def contains(self, path: Path) -> bool:
        """Whether `path` (a Markdown file of the issue) really lies inside the bound."""
        try:
            return _within(os.path.realpath(path), self._bound)
        except (OSError, ValueError):
            return False
