"""The archive's own pages: the index pages of each language, the languages page, the 404 page,
and the list of pages for the sitemap. They are made from the issues' records alone, so an
unchanged issue is never read again to list it."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsletter.archive import layout
from newsletter.archive.sitemap import SitemapPage
from newsletter.archive.sources import digest_of
from newsletter.archive.state import Entry, IssueRecord
from newsletter.config import Project
from newsletter.errors import ContentError
from newsletter.render.i18n import N_, language
from newsletter.render.masthead import masthead
from newsletter.render.pipeline import Renderer


@dataclass
class Published:
    """An issue of the archive: its record, and when its send started (if it was sent here)."""

    record: IssueRecord
    sent: datetime | None
    path: Path
    zone: tzinfo
    """The newsletter's time zone: the day a send started is the day there."""

    def date(self, entry: Entry) -> datetime:
        """The date the edition is filed under: its own, else the day it was sent."""
        if entry.date:
            return datetime.fromisoformat(entry.date)
        if self.sent is not None:
            return self.sent.astimezone(self.zone)
        raise ContentError(
            f"issue {entry.slug} has no date, and no send of it is recorded here",
            path=self.path,
            hint="add `date: YYYY-MM-DD` to its front matter",
        )

    def updated(self, entry: Entry) -> datetime:
        """When the edition last changed: its `updated` date, else its date."""
        return datetime.fromisoformat(entry.updated) if entry.updated else self.date(entry)


Listing = list[tuple[Published, Entry]]


class Pages:
    """The index, languages and 404 pages of one archive."""

    def __init__(
        self,
        project: Project,
        renderer: Renderer,
        published: Sequence[Published],
        logo_file: str = "",
    ):
        self.project = project
        self.logo_file = logo_file
        """The logo's path in the archive ("": no logo file; a logo URL is linked as it is)."""
        self.config = project.config
        self.base = self.config.base_url
        self.renderer = renderer
        found: dict[str, Listing] = {}
        for issue in published:
            for entry in issue.record.entries:
                found.setdefault(entry.locale, []).append((issue, entry))
        order = {code: position for position, code in enumerate(self.config.locales)}
        self.by_locale: dict[str, Listing] = {
            locale: sorted(found[locale], key=lambda pair: _newest_first(*pair))
            for locale in sorted(found, key=lambda code: (order.get(code, len(order)), code))
        }
        if not self.by_locale:
            self.by_locale[self.config.default_locale] = []

    def all(self, inputs: str) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
        """(path, key, make) of every page: `make()` renders it; `key` is a digest of what it
        shows (and of `inputs`, what every page depends on), so unchanged pages are skipped."""
        languages = list(self.by_locale)
        size = self.config.archive_page_size
        for locale, listing in self.by_locale.items():
            count = self._page_count(listing)
            for number in range(1, count + 1):
                path = layout.index_page(locale, number)
                entries = self._entries(path, locale, listing[(number - 1) * size : number * size])
                key = digest_of([inputs, json.dumps([languages, count, entries], default=str)])
                yield path, key, functools.partial(self._index, locale, number, count, entries)
        default = self._default_locale()
        key = digest_of([inputs, *languages])
        for path, template in (
            (layout.INDEX, "archive/languages.html.j2"),
            ("404.html", "archive/404.html.j2"),
        ):
            yield path, key, functools.partial(self._choices, default, path, template)

    def sitemap(self) -> list[SitemapPage]:
        """Every page worth finding, newest issues first, with its language alternates."""
        indexes = {
            locale: layout.url_of(self.base, layout.index_page(locale, 1))
            for locale in self.by_locale
        }
        root = layout.url_of(self.base, layout.INDEX)
        pages = [SitemapPage(root)]
        pages += [SitemapPage(url, None, indexes, root) for url in indexes.values()]
        for locale, listing in self.by_locale.items():
            pages += [
                SitemapPage(layout.url_of(self.base, layout.index_page(locale, number)))
                for number in range(2, self._page_count(listing) + 1)
            ]
            for published, entry in listing:
                editions = {e.locale: e.slug for e in published.record.entries}
                alternates = {
                    code: layout.url_of(self.base, layout.issue_page(code, slug))
                    for code, slug in editions.items()
                }
                pages.append(
                    SitemapPage(
                        alternates[locale],
                        published.updated(entry).date().isoformat(),
                        alternates,
                        next(iter(alternates.values())),
                    )
                )
        return pages

    def _page_count(self, listing: Listing) -> int:
        size = self.config.archive_page_size
        return max(1, -(-len(listing) // size))

    def _entries(self, path: str, locale: str, listing: Listing) -> list[dict[str, Any]]:
        return [
            {
                "title": entry.title,
                "href": layout.link(path, layout.issue_page(locale, entry.slug)),
                "date": published.date(entry),
                "summary": entry.summary,
                "minutes": entry.minutes,
            }
            for published, entry in listing
        ]

    def _index(self, locale: str, number: int, count: int, entries: list[dict[str, Any]]) -> bytes:
        path = layout.index_page(locale, number)
        localizer = self.renderer.localizer(locale)
        title = localizer.gettext(N_("%(newsletter)s: all issues")) % {
            "newsletter": self.config.name
        }
        if number > 1:
            title += f" ({number}/{count})"
        context = self._frame(
            locale,
            path,
            title=title,
            description=localizer.gettext(N_("Every issue of %(newsletter)s, newest first."))
            % {"newsletter": self.config.name},
            alternates=number == 1,
        )
        pages = {
            "number": number,
            "count": count,
            "newer": layout.link(path, layout.index_page(locale, number - 1)) if number > 1 else "",
            "older": layout.link(path, layout.index_page(locale, number + 1))
            if number < count
            else "",
        }
        return self.renderer.render_page(
            locale, "archive/index.html.j2", {**context, "entries": entries, "pages": pages}
        ).encode("utf-8")

    def _choices(self, locale: str, path: str, template: str) -> bytes:
        """The languages page or the 404 page: both offer the index of every language."""
        is_404 = path == "404.html"
        # The 404 page is shown at any address, so it links from the root of the site.
        site = urlsplit(self.base).path.rstrip("/") + "/"
        choices = [
            {
                **language(code),
                "href": site + layout.index_page(code, 1).removesuffix(layout.INDEX)
                if is_404
                else layout.link(path, layout.index_page(code, 1)),
            }
            for code in self.by_locale
        ]
        localizer = self.renderer.localizer(locale)
        context = self._frame(
            locale,
            path,
            title=localizer.gettext(N_("Page not found")) if is_404 else self.config.name,
            description=localizer.gettext(N_("Every issue of %(newsletter)s, newest first."))
            % {"newsletter": self.config.name},
            alternates=not is_404,
            canonical=not is_404,
            home=site + layout.index_page(locale, 1).removesuffix(layout.INDEX) if is_404 else None,
        )
        return self.renderer.render_page(locale, template, {**context, "choices": choices}).encode(
            "utf-8"
        )

    def _frame(
        self,
        locale: str,
        path: str,
        *,
        title: str,
        description: str,
        alternates: bool,
        canonical: bool = True,
        home: str | None = None,
    ) -> dict[str, Any]:
        """What the frame of every archive page needs: head links, header, footer."""
        feeds = {
            kind: layout.url_of(self.base, layout.feed_file(locale, kind)) for kind in layout.FEEDS
        }
        languages = [
            {
                **language(code),
                "href": layout.link(path, layout.index_page(code, 1)),
                "url": layout.url_of(self.base, layout.index_page(code, 1)),
                "current": code == locale,
            }
            for code in self.by_locale
        ]
        in_listing = locale in self.by_locale and path != "404.html"
        home = home or layout.link(path, layout.index_page(locale, 1))
        top = masthead(self.project, self.renderer.logo, locale, home)
        if self.logo_file:  # The 404 page is shown at any address: it links from the root.
            top["logo"] = (
                urlsplit(self.base).path.rstrip("/") + "/" + self.logo_file
                if path == "404.html"
                else layout.link(path, self.logo_file)
            )
        return {
            "newsletter": {
                "name": self.config.name,
                "base_url": self.base,
                "postal_address": self.config.postal_address,
            },
            "locale": self.locale_layout(locale),
            "masthead": top,
            "page": {
                "title": title,
                "description": description,
                "url": layout.url_of(self.base, path) if canonical else "",
                "indexed": canonical,
                "home": home,
                "subscribe": f"{self.base}/subscribe",
                "alternates": languages if path.startswith(f"{locale}/") else [],
                "hreflang": languages if alternates and len(languages) > 1 else [],
                "default": layout.url_of(self.base, layout.INDEX) if alternates else "",
                "feeds": feeds if in_listing else {},
                "feed_href": layout.link(path, layout.feed_file(locale, "atom"))
                if in_listing and path != layout.INDEX
                else "",
            },
        }

    def locale_layout(self, locale: str) -> dict[str, str]:
        """What templates know of `locale`: its codes and direction (Localizer.layout)."""
        return self.renderer.localizer(locale).layout

    def _default_locale(self) -> str:
        default = self.config.default_locale
        return default if default in self.by_locale else next(iter(self.by_locale))


def _newest_first(published: Published, entry: Entry) -> tuple[float, tuple[int, ...]]:
    # Newest first; on the same date, the slug sorting last comes first (reversed code points).
    return (-published.date(entry).timestamp(), tuple(-ord(c) for c in entry.slug))
