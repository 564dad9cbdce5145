"""Which links of an edition belong to which story: what click reports count per story.

Read from the email's parts as the pipeline renders them (the story's own link, its image and
the links in its body), in reading order, so that a link found in the finished email can be
given to the story it stands in.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_HREF = re.compile(r"""<a\b[^>]*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class StoryLinks:
    """A story of an edition and the URLs it links to (as written in the email, unescaped)."""

    slug: str
    title: str
    urls: frozenset[str]


def hrefs(markup: str) -> list[str]:
    """The URLs the links of an HTML fragment go to, unescaped, in order."""
    return [html.unescape(a or b) for a, b in _HREF.findall(markup)]


def story_links(sections: Iterable[Mapping[str, Any]]) -> tuple[StoryLinks, ...]:
    """The stories of the email's sections (as the pipeline hands them to the template), in
    reading order, each with the URLs it links to."""
    found = []
    for section in sections:
        for card in section["stories"]:
            urls = {card.get("url") or "", *hrefs(str(card.get("body_html") or ""))}
            urls.discard("")
            found.append(StoryLinks(card["slug"], str(card.get("title") or ""), frozenset(urls)))
    return tuple(found)
