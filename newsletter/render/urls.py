"""Where things live on the public site, and how links in story files are rewritten for it.

    {base_url}/{locale}/{slug}/            the web version of an issue in one locale
    {base_url}/{slug}/{path in the issue}  a file of the issue (images/hero.jpg)

Email needs absolute URLs; a built web page links its files relative to itself so the output
folder works anywhere (a file:// preview, a sub-path, the archive).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from newsletter.content.local_files import (
    PUBLISHED_SUFFIXES,
    IssueFiles,
    is_computer_path,
    issue_root,
)

__all__ = ["PUBLISHED_SUFFIXES", "AssetMap", "PageLinks", "absolute_links", "issue_root", "web_url"]

SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


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
    project: Path | None = None
    """The project folder: linked files must lie inside it (None: inside the issue's folder)."""

    @functools.cached_property
    def _rule(self) -> IssueFiles:
        # Made at the first local file: most links go to the web, and the rule resolves the
        # issue's and the project's folders (system calls each) when it is made.
        return IssueFiles(self.root, self.project)

    def resolve(self, url: str, source: Path) -> str:
        """The URL to publish for `url` written in `source`; "" for what must not be linked."""
        url = url.strip()
        parts = urlsplit(url)
        if not url or url.startswith("#") or parts.scheme in SAFE_SCHEMES:
            return url
        if parts.scheme:
            return ""  # javascript:, data:, file: and friends are dropped.
        if url.startswith("//"):
            return f"https:{url}"
        if url.startswith("/"):
            return "" if is_computer_path(unquote(parts.path)) else f"{self.base_url}{url}"
        found = self._rule.find(unquote(parts.path), source)
        if found.refused:
            return ""  # Outside the project or hidden: never read (`newsletter check` says so).
        inside = found.inside
        if found.published:
            self.files[found.path] = inside
            if self.published is not None:
                inside = self.published(found.path, inside)
        elif found.path.suffix.lower() in PUBLISHED_SUFFIXES:
            self.missing.add(found.path)
        suffix = (f"?{parts.query}" if parts.query else "") + (
            f"#{parts.fragment}" if parts.fragment else ""
        )
        return f"{self.prefix}{quote(inside)}{suffix}"


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
