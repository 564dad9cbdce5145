"""Where things live on the public site, and how links in story files are rewritten for it.

    {base_url}/{locale}/{slug}/            the web version of an issue in one locale
    {base_url}/{slug}/{path in the issue}  a file of the issue (images/hero.jpg)

Email needs absolute URLs; a built web page links its files relative to itself so the output
folder works anywhere (a file:// preview, a sub-path, the archive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urlsplit

SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# The kinds of local files a page may link that are copied beside it and published: media and
# documents. Never Markdown (a draft), a database, a configuration file or a dotfile.
PUBLISHED_SUFFIXES = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".avif",
        ".svg",
        ".ico",
        ".bmp",
        ".tif",
        ".tiff",
        ".pdf",
        ".mp3",
        ".m4a",
        ".ogg",
        ".oga",
        ".wav",
        ".flac",
        ".mp4",
        ".m4v",
        ".webm",
        ".ogv",
        ".mov",
        ".vtt",
        ".zip",
        ".epub",
    ]
)


def home_url(base_url: str, locale: str) -> str:
    """The public URL of the archive's index in `locale`."""
    return f"{base_url}/{quote(locale)}/"


def web_url(base_url: str, locale: str, slug: str) -> str:
    """The public URL of an issue's web version in `locale`."""
    return f"{base_url}/{quote(locale)}/{quote(slug)}/"


@dataclass
class AssetMap:
    """Rewrites links in one issue's Markdown and collects the local files they point to.

    `prefix` is put before a file's path inside the issue: `https://site/slug/` for email,
    `` (nothing) for a web page whose files are copied next to it.
    """

    root: Path
    base_url: str
    prefix: str
    files: dict[Path, str] = field(default_factory=dict)
    """Local file -> its path inside the issue (where a build copies it)."""
    missing: set[Path] = field(default_factory=set)
    """Local files linked but not there (yet): a rebuild must notice when they appear."""
    published: Callable[[Path, str], str] | None = None
    """The name a local file is linked by, from (file, path inside the issue); default: the path
    inside the issue. The archive links content-hashed names, safe to cache forever."""

    def resolve(self, url: str, source: Path) -> str:
        """The URL to publish for `url` written in `source`."""
        url = url.strip()
        parts = urlsplit(url)
        if not url or url.startswith("#") or parts.scheme in SAFE_SCHEMES:
            return url
        if parts.scheme:
            return ""  # javascript:, data: and friends are dropped.
        if url.startswith("//"):
            return f"https:{url}"
        if url.startswith("/"):
            return f"{self.base_url}{url}"
        path = (source.parent / unquote(parts.path)).resolve()
        try:
            inside = path.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            inside = f"_/{path.name}"  # Outside the issue: published under a side folder.
        if path.suffix.lower() in PUBLISHED_SUFFIXES and not any(
            part.startswith(".") for part in PurePosixPath(inside).parts
        ):
            if path.is_file():
                self.files[path] = inside
                if self.published is not None:
                    inside = self.published(path, inside)
            else:
                self.missing.add(path)
        suffix = (f"?{parts.query}" if parts.query else "") + (
            f"#{parts.fragment}" if parts.fragment else ""
        )
        return f"{self.prefix}{quote(inside)}{suffix}"


def issue_root(issue_path: Path) -> Path:
    """The folder an issue's relative files are resolved in: the issue folder, or a file's folder."""
    return issue_path if issue_path.is_dir() else issue_path.parent


@dataclass
class PageLinks:
    """Where a web page's links to the rest of the site point."""

    home: str
    """The index of the page's language."""
    subscribe: str
    alternates: dict[str, str]
    """Locale -> the link to the issue in that locale (this page's own included)."""
    files: str = ""
    """What comes before the path of an issue's file ("": the files sit beside the page)."""
    published: Callable[[Path, str], str] | None = None
    """The name a file is linked by (see AssetMap.published)."""
    feeds: dict[str, str] = field(default_factory=dict)
    """Feed type (`atom`, `rss`) -> the URL of the feed of the page's language."""
    logo: str = ""
    """The link to the logo ("": its absolute URL)."""
    navigation: str = ""
    """HTML put below the issue (the archive's slot for the previous and next issues)."""


def absolute_links(base_url: str, slug: str, locale: str, locales: list[str]) -> PageLinks:
    """The links of a web page published on its own: absolute, its files beside it."""
    return PageLinks(
        home=home_url(base_url, locale),
        subscribe=f"{base_url}/subscribe",
        alternates={code: web_url(base_url, code, slug) for code in locales},
    )
