"""The previous, next and all-issues links below each issue's page in the archive.

An issue's page is rendered with an empty slot where they go, since its neighbours are known
only once every issue is read and ordered. The build then fills the slot of every page whose
neighbours are new (or changed: an issue added, removed, retitled or redated next to it). A
page that is not rendered again gets its slot filled in the page as last written: the slot's
markers delimit exactly what the navigation wrote, so the bytes are the same as after a full
build, without rendering the issue again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from newsletter.archive import layout
from newsletter.archive.pages import Listing
from newsletter.archive.sources import digest_of
from newsletter.archive.state import Entry

START = "<!--newsletter:issue-nav-->"
END = "<!--/newsletter:issue-nav-->"
SLOT = START + END
"""What an issue's page holds where its navigation goes, before the build fills it in."""
TEMPLATE = "archive/issue_nav.html.j2"


@dataclass(frozen=True)
class Navigation:
    """The navigation of one issue page: its neighbours in its language (None at the ends)."""

    slug: str
    locale: str
    path: str
    """The page, relative to the root of the archive."""
    older: Entry | None
    newer: Entry | None

    @property
    def key(self) -> str:
        """A digest of what the navigation shows: when it changes, the page does."""
        return digest_of(
            part
            for entry in (self.older, self.newer)
            for part in ((entry.slug, entry.title) if entry else ("", ""))
        )

    def context(self) -> dict[str, Any]:
        """What the template shows: `older`, `newer` (`title`, `href`) and `all` (the index)."""
        return {
            "older": self._link(self.older),
            "newer": self._link(self.newer),
            "all": layout.link(self.path, layout.index_page(self.locale, 1)),
        }

    def _link(self, entry: Entry | None) -> dict[str, str] | None:
        if entry is None:
            return None
        target = layout.issue_page(entry.locale, entry.slug)
        return {"title": entry.title, "href": layout.link(self.path, target)}


def navigations(by_locale: dict[str, Listing]) -> Iterator[Navigation]:
    """The navigation of every issue page, per locale (its listing newest first)."""
    for locale, listing in by_locale.items():
        entries = [entry for _, entry in listing]
        for position, entry in enumerate(entries):
            yield Navigation(
                entry.slug,
                locale,
                layout.issue_page(locale, entry.slug),
                older=entries[position + 1] if position + 1 < len(entries) else None,
                newer=entries[position - 1] if position > 0 else None,
            )


def fill(page: bytes, navigation: str) -> bytes:
    """`page` with `navigation` in its slot (whatever the slot held before); unchanged when it
    has no slot (a project's own web.html.j2 may leave it out)."""
    start = page.find(START.encode())
    end = page.find(END.encode(), start)
    if start < 0 or end < 0:
        return page
    return page[:start] + f"{START}{navigation}{END}".encode() + page[end + len(END) :]
