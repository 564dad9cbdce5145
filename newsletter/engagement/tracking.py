"""An edition's links made tracking links: once per edition, never per recipient.

    found = edition_links(html, stories, base_url)    every link a reader can follow, numbered
    html, text = tracked(html, text, found, urls)     each one's URL replaced by its tracking URL

Only absolute http(s) links are tracked. Left as they are: `mailto:` and `tel:` links, links
holding a reader's value (unsubscribe, preferences, the web version: placeholders), links to
the newsletter's own reader pages, and anything else (`javascript:` and `data:` never reach the
email: the sanitizer drops them). The same URL twice in one story (its title and "Read more")
is one link; in two stories, two. The text part's links get the tracking URL of the same link
of the HTML part, however each part spells it (`link_key`). A hidden honeypot link (no text,
not displayed, hidden from screen readers) and, when asked, the open pixel go before `</body>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from markdown_it.common.normalize_url import normalizeLink

from newsletter.engagement.models import HONEYPOT
from newsletter.render.story_links import StoryLinks

_ANCHOR = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_CLOSE = re.compile(r"</a\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_ALT = re.compile(r"""\salt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
# Up to a space or what no URL holds unencoded; a quote may (`/wiki/The_Hitchhiker's_Guide`).
_TEXT_URL = re.compile(r"https?://[^\s<>\"]+")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
OWN_PAGES = ("unsubscribe", "preferences", "confirm", "l", "o")
LABEL_LENGTH = 200


@dataclass(frozen=True)
class FoundLink:
    """A link of the edition: its number, where it goes, and the story it stands in."""

    position: int
    url: str
    story: str = ""
    story_title: str = ""
    label: str = ""


@dataclass(frozen=True)
class EditionLinks:
    """The links of an edition's email and where each stands in its HTML."""

    links: tuple[FoundLink, ...]
    spans: tuple[tuple[int, int, int], ...]
    """(start, end, position) of each tracked href value in the HTML, in order."""


def trackable(url: str, base_url: str) -> bool:
    """Whether `url` (unescaped) is a link clicks are counted on."""
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")) or "%%nl_" in url:
        return False
    if any(ord(character) < 32 or ord(character) == 127 for character in url):
        return False
    own = base_url.rstrip("/") + "/"
    if url.startswith(own):
        first = url[len(own) :].split("/", 1)[0].split("?", 1)[0]
        return first not in OWN_PAGES
    return True


def link_key(url: str) -> str:
    """One spelling of the link `url` (unescaped), whichever an email's part has: the HTML
    part's raw-HTML links come through the CSS inliner (premailer percent-encodes their
    non-ASCII characters, the host's too), the text part's through markdown-it (which writes
    the host in A-labels and percent-encodes the rest). The key is markdown-it's spelling of
    the URL with its host percent-decoded; only ever compared, never linked."""
    try:
        parts = urlsplit(url)
    except ValueError:  # A malformed IPv6 host: compared as it is.
        return url
    if "%" in parts.netloc:
        url = parts._replace(netloc=unquote(parts.netloc)).geturl()
    return normalizeLink(url)


def edition_links(html_text: str, stories: Sequence[StoryLinks], base_url: str) -> EditionLinks:
    """Every trackable link of an edition's email HTML, numbered from 1 in reading order, each
    given to the story it stands in (`stories`: in reading order too)."""
    links: list[FoundLink] = []
    known: dict[tuple[str, str], int] = {}
    spans: list[tuple[int, int, int]] = []
    # The stories' links as their Markdown rendered them, before the CSS inliner.
    in_story = [frozenset(map(link_key, story.urls)) for story in stories]
    cursor = 0
    for anchor in _ANCHOR.finditer(html_text):
        href = _HREF.search(anchor.group(0))
        if href is None:
            continue
        group = 1 if href.group(1) is not None else 2
        url = html.unescape(href.group(group))
        if not trackable(url, base_url):
            continue
        same = link_key(url)
        cursor = _story_at(in_story, cursor, same)
        story = stories[cursor] if cursor < len(stories) and same in in_story[cursor] else None
        key = (same, story.slug if story else "")
        if key not in known:
            known[key] = len(links) + 1
            links.append(
                FoundLink(
                    known[key],
                    url,
                    story.slug if story else "",
                    story.title if story else "",
                    _label(html_text, anchor.end()),
                )
            )
        start = anchor.start() + href.start(group)
        spans.append((start, anchor.start() + href.end(group), known[key]))
    return EditionLinks(tuple(links), tuple(spans))


def _story_at(in_story: Sequence[frozenset[str]], cursor: int, key: str) -> int:
    """The story a link (its `link_key`) stands in, `cursor` being the story of the link
    before: that story when it links there too, else the next one that does (stories come in
    reading order), else the last one before it that does; `cursor` when none does (a link
    between stories belongs to none: the caller checks).

    Looking back matters: a link of the lead (or of a section's intro) to a URL a later story
    links too takes the cursor to that story, and the stories in between must still get
    their own links."""
    if cursor < len(in_story) and key in in_story[cursor]:
        return cursor
    found = [index for index, keys in enumerate(in_story) if key in keys]
    later = [index for index in found if index > cursor]
    return later[0] if later else found[-1] if found else cursor


def _label(html_text: str, start: int) -> str:
    """The text of the link that opens before `start` (an image's alt text when it has none)."""
    end = _CLOSE.search(html_text, start)
    inner = html_text[start : end.start() if end else start]
    text = " ".join(html.unescape(_TAG.sub(" ", inner)).split())
    if not text:
        alts = [html.unescape(a or b) for a, b in _ALT.findall(inner)]
        text = " ".join(" ".join(alts).split())
    return text[:LABEL_LENGTH]


def tracked(
    html_text: str,
    text: str,
    found: EditionLinks,
    urls: Mapping[int, str],
    *,
    open_pixel: str = "",
) -> tuple[str, str]:
    """The email HTML and text part with each link's URL replaced by `urls[position]` (a
    tracking URL, plain ASCII), the honeypot link `urls[HONEYPOT]` and the open pixel (its URL,
    when given) put before `</body>`."""
    pieces = []
    last = 0
    for start, end, position in found.spans:
        pieces += [html_text[last:start], html.escape(urls[position], quote=True)]
        last = end
    pieces.append(html_text[last:])
    tracked_html = "".join(pieces)
    hidden = ""
    if HONEYPOT in urls:
        hidden += (
            f'<a href="{html.escape(urls[HONEYPOT], quote=True)}" aria-hidden="true" '
            'tabindex="-1" style="display:none;font-size:0;line-height:0;max-height:0;'
            'overflow:hidden;mso-hide:all"></a>'
        )
    if open_pixel:
        hidden += (
            f'<img src="{html.escape(open_pixel, quote=True)}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
        )
    if hidden:
        ends = list(_BODY_END.finditer(tracked_html))
        at = ends[-1].start() if ends else len(tracked_html)
        tracked_html = tracked_html[:at] + hidden + tracked_html[at:]
    by_key: dict[str, str] = {}
    for link in found.links:
        by_key.setdefault(link_key(link.url), urls[link.position])
    tracked_text = _TEXT_URL.sub(
        lambda match: by_key.get(link_key(match.group(0)), match.group(0)), text
    )
    return tracked_html, tracked_text
