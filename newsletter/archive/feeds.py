"""The Atom and RSS 2.0 feeds of one locale (feedgen): the newest issues with their full text.

Every date comes from the issues, never from the clock, so an unchanged archive rebuilds to
the same bytes. Entry ids are the issues' permanent URLs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from newsletter.archive.state import Entry
from newsletter.characters import strip_not_xml
from newsletter.render.i18n import locale_tag

GENERATOR = "newsletter"


def _xml(text: str) -> str:
    # Characters XML 1.0 forbids (a vertical tab pasted from a word processor): lxml refuses them.
    return strip_not_xml(text)


@dataclass
class FeedItem:
    """One issue in a feed: its entry, where it lives, its dates and its full text."""

    entry: Entry
    url: str
    published: datetime
    updated: datetime
    content: str


@dataclass
class FeedInfo:
    """What a locale's feeds say about themselves."""

    title: str
    description: str
    locale: str
    home: str
    """The URL of the locale's index page."""
    atom: str
    rss: str
    author: str


def feeds(info: FeedInfo, items: Sequence[FeedItem]) -> dict[str, bytes]:
    """The Atom and RSS documents of `items` (newest first), by feed type."""
    from feedgen.feed import FeedGenerator  # Here: a rebuild whose feeds did not change skips it.

    generator = FeedGenerator()
    generator.id(info.home)
    generator.title(_xml(info.title))
    generator.subtitle(_xml(info.description))  # RSS: the channel's description.
    generator.language(locale_tag(info.locale))
    generator.author({"name": info.author})
    generator.generator(GENERATOR)
    generator.link(href=info.home, rel="alternate")
    newest = max((item.updated for item in items), default=datetime(1970, 1, 1, tzinfo=UTC))
    generator.updated(newest)
    generator.lastBuildDate(newest)
    for item in items:
        entry = generator.add_entry(order="append")
        entry.id(item.url)
        entry.guid(item.url, permalink=True)
        entry.title(_xml(item.entry.title))
        entry.link(href=item.url, rel="alternate")
        entry.published(item.published)
        entry.updated(item.updated)
        entry.summary(_xml(item.entry.summary) or None)
        entry.content(_xml(item.content), type="html")
        for name in item.entry.authors:
            entry.author({"name": _xml(name)})
        for tag in item.entry.tags:
            entry.category(term=_xml(tag))
    generator.link(href=info.atom, rel="self", type="application/atom+xml")
    atom = generator.atom_str(pretty=True)
    # RSS takes its channel link from the last link given.
    generator.link(href=info.rss, rel="self", type="application/rss+xml", replace=True)
    generator.link(href=info.home, rel="alternate")
    rss = generator.rss_str(pretty=True)
    return {"atom": atom, "rss": rss}
