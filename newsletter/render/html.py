"""Story Markdown to safe HTML: CommonMark with footnotes, links rewritten, raw HTML sanitized.

Raw HTML from posts is cleaned with nh3 for email and web alike: no script, no event handlers,
no style sheets; an iframe (a video embed) becomes a link to what it showed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from newsletter.content.language import TextLength, measure_text
from newsletter.content.markdown import tokens_text
from newsletter.render.controls import has_colours, strip_invalid, terminal_html
from newsletter.render.fields import FieldMarks
from newsletter.render.footnotes import FIRST, LINKS, footnote_count, use_edition_numbering
from newsletter.render.merge import literal_placeholders
from newsletter.render.urls import SAFE_SCHEMES, AssetMap

_IFRAME = re.compile(
    r"<iframe\b([^>]*)>.*?</iframe>|<iframe\b([^>]*)/?>", re.IGNORECASE | re.DOTALL
)
_ATTRIBUTE = re.compile(r"""\b(src|title)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt=)", re.IGNORECASE)
_EMBEDS = {
    "www.youtube.com/embed/": "https://www.youtube.com/watch?v=",
    "www.youtube-nocookie.com/embed/": "https://www.youtube.com/watch?v=",
    "player.vimeo.com/video/": "https://vimeo.com/",
}

TAGS = nh3.ALLOWED_TAGS | {"section", "img", "figure", "figcaption", "picture", "source"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"id", "class", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "source": {"srcset", "media", "type"},
    "ol": {"start", "type"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "time": {"datetime"},
    "abbr": {"title"},
}
URL_ATTRIBUTES = frozenset({"href", "src", "srcset"})


class HtmlRenderer:
    """Renders the Markdown parts of one edition, in reading order, with one set of URL rules.

    Footnotes are numbered across the parts (see footnotes.py); `footnote_links` makes their
    references and back-references links (the web page), else plain numbers (email, feeds).
    `merge`: subscriber fields become merge placeholders (the email), else their defaults.
    """

    def __init__(
        self,
        parser: MarkdownIt,
        assets: AssetMap,
        *,
        footnote_links: bool = False,
        merge: bool = False,
    ):
        self.parser = parser
        self.assets = assets
        self.footnote_links = footnote_links
        self.fields = FieldMarks(merge)
        _prepare(parser)
        self._source = Path()
        """The Markdown file of the part being cleaned: its links are resolved from there."""
        # One sanitizer for all the parts: building one converts the rules above each time,
        # twice the cost of cleaning a story (nh3's Cleaner, reused).
        self._cleaner = nh3.Cleaner(
            tags=TAGS,
            attributes=ATTRIBUTES,
            attribute_filter=self._rewrite,
            url_schemes=set(SAFE_SCHEMES),
            link_rel=None,
            strip_comments=True,
        )
        self.length = TextLength(0, 0)
        """Words and characters of the parts rendered with `counted` (for the reading time)."""
        self.footnotes = 0
        """Footnotes numbered so far: the next part's first one is one more."""

    def render(
        self,
        markdown: str,
        source: Path,
        counted: bool = False,
        parsed: Mapping[str, list[Token]] | None = None,
    ) -> str:
        """Safe HTML for `markdown` written in `source`, its footnotes numbered on from the
        parts rendered before. With `counted`, its text is added to `length` (same parse).
        `parsed`: parts already parsed (Edition.parsed), by their text; others are parsed here."""
        if not markdown.strip():
            return ""
        env: dict[str, Any] = {FIRST: self.footnotes, LINKS: self.footnote_links}
        marked = self.fields.mark(self.parser, markdown)
        tokens = parsed.get(markdown) if parsed and marked == markdown else None
        if tokens is None:
            tokens = self.parser.parse(marked, env)
        self.footnotes += footnote_count(env)
        if counted:
            self.length += measure_text(tokens_text(tokens))
        raw = self.parser.renderer.render(tokens, self.parser.options, env)
        raw = iframe_links(raw)
        self._source = source
        clean = self._cleaner.clean(raw)
        # A character reference (`&#27;`) decodes to a character HTML and XML do not allow.
        # Character references (`&#37;%nl_email%%`) decode to a placeholder only now. Fields
        # become placeholders after that, so only they are filled.
        clean = literal_placeholders(strip_invalid(_IMG_WITHOUT_ALT.sub('<img alt=""', clean)))
        return self.fields.html(clean)

    def _rewrite(self, tag: str, attribute: str, value: str) -> str | None:
        """A kept attribute's value: URLs resolved from the part's file, fields marked."""
        if attribute in URL_ATTRIBUTES:
            value = self.fields.in_url(value)
            if attribute == "srcset":
                return ", ".join(self._srcset(part, self._source) for part in value.split(","))
            return self.assets.resolve(value, self._source) or None
        return value

    def _srcset(self, candidate: str, source: Path) -> str:
        url, _, size = candidate.strip().partition(" ")
        return f"{self.assets.resolve(url, source)} {size}".strip()


def _prepare(parser: MarkdownIt) -> None:
    """Set the HTML rules of `parser` (code blocks, edition-wide footnotes) the first time it
    is given to an HtmlRenderer: a Renderer makes several per render, all on its one parser."""
    rules: dict[str, Any] = getattr(parser.renderer, "rules", {})
    if getattr(rules.get("code_block"), "__func__", None) is _code:
        return
    parser.add_render_rule("fence", _code)
    parser.add_render_rule("code_block", _code)
    use_edition_numbering(parser)


def _code(self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """A code block; terminal output with colour sequences gets coloured spans."""
    token = tokens[idx]
    if not has_colours(token.content):
        if token.type == "fence":
            return RendererHTML.fence(self, tokens, idx, options, env)
        return RendererHTML.code_block(self, tokens, idx, options, env)
    return f'<pre class="nl-terminal"><code>{terminal_html(token.content)}</code></pre>\n'


def iframe_links(html_text: str) -> str:
    """`html_text` with each embedded frame replaced by a link to the page it embeds."""
    return _IFRAME.sub(_iframe_link, html_text)


def _iframe_link(match: re.Match[str]) -> str:
    """An embedded frame as a link to the page it embeds (email clients never show frames)."""
    attributes = {
        name.lower(): value
        for name, value in _ATTRIBUTE.findall(match.group(1) or match.group(2) or "")
    }
    url = attributes.get("src", "")
    if url.startswith("//"):
        url = f"https:{url}"
    for embed, page in _EMBEDS.items():
        if embed in url:
            url = page + url.split(embed, 1)[1].split("?", 1)[0]
    if not url:
        return ""
    label = attributes.get("title") or url
    return f'<a href="{html.escape(url)}">{html.escape(label)}</a>'
