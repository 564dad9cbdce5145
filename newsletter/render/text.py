"""Story Markdown to plain text for the text/plain part: readable in a terminal, links numbered.

    OpenAI announced Sora [1], a text-to-video model.
    ...
    [1] https://openai.com/sora

Paragraphs in spaced scripts are wrapped at 72 columns on spaces; text in scripts written
without spaces (Chinese, Japanese) is never broken inside, the reader's client wraps it.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from newsletter.content.language import display_width, measure_text
from newsletter.content.markdown import HIDDEN_TAGS, html_tag
from newsletter.render.controls import strip_escapes, strip_invalid
from newsletter.render.fields import FieldMarks
from newsletter.render.html import iframe_links
from newsletter.render.merge import literal_placeholders
from newsletter.render.text_html import TEXT_URL, html_text, link_label, text_urls
from newsletter.render.urls import AssetMap

WIDTH = 72
_CODE_SPACE = "\x00"
"""A space inside a code span while lines are wrapped (no content holds NUL: it is cleaned
out where an edition enters rendering); a space again in the output."""


@dataclass
class LinkReferences:
    """The reference numbers of one message: links and footnotes share them, so every `[n]`
    of the text part means one thing. A URL keeps its number; links are listed at the end,
    a footnote's text follows the story that cites it."""

    urls: list[str] = field(default_factory=list)
    """The linked URLs, in the order of their numbers."""
    numbers: dict[object, int] = field(default_factory=dict)
    """URL, or (part, footnote id), -> its number."""

    def number(self, url: str) -> int:
        """The reference number of `url`, assigning the next one on first use."""
        if url not in self.numbers:
            self.urls.append(url)
        return self._assign(url)

    def note(self, part: int, footnote: int) -> int:
        """The reference number of footnote `footnote` (markdown-it's id) of part `part`."""
        return self._assign((part, footnote))

    def _assign(self, key: object) -> int:
        return self.numbers.setdefault(key, len(self.numbers) + 1)

    def listing(self) -> str:
        """`[1] https://...` lines for the end of the message."""
        return "\n".join(f"[{self.numbers[url]}] {url}" for url in self.urls)


class TextRenderer:
    """Renders the Markdown parts of one issue as plain text sharing one list of links."""

    def __init__(self, parser: MarkdownIt, assets: AssetMap, links: LinkReferences) -> None:
        self.parser = parser
        self.assets = assets
        self.links = links
        self.fields = FieldMarks(merge=True)  # The text part is only ever the email's.
        self.parts = 0
        """Parts rendered so far: each one's footnotes are its own."""

    def render(self, markdown: str, source: Path) -> str:
        """Plain text for `markdown` written in `source`."""
        if not markdown.strip():
            return ""
        tokens = self.parser.parse(self.fields.mark(self.parser, markdown))
        self.parts += 1
        # A character reference (`&#27;`) decodes to a character no text part should carry.
        # ...and `&#37;%nl_email%%` to a placeholder a reader's values must not fill.
        text = _Walker(self, source).blocks(tokens).strip("\n").replace(_CODE_SPACE, " ")
        return self.fields.text(literal_placeholders(strip_invalid(text)))

    def plain(self, text: str, source: Path) -> str:
        """A plain-text field (a title, a summary) for the text part: each URL written in it
        replaced by its host and reference number, like a bare URL in Markdown."""
        return literal_placeholders(text_urls(text, _Walker(self, source).reference))

    def inline(self, text: str, source: Path) -> str:
        """Plain text for one line of inline Markdown (a title)."""
        tokens = self.parser.parseInline(text)
        line = _Walker(self, source).inline(tokens[0].children or []) if tokens else text
        return literal_placeholders(strip_invalid(line.replace(_CODE_SPACE, " ")))


class _Walker:
    def __init__(self, renderer: TextRenderer, source: Path) -> None:
        self.renderer = renderer
        self.source = source

    def blocks(self, tokens: list[Token]) -> str:
        out: list[str] = []
        lists: list[list[int]] = []  # A counter per open list: [next number] or [-1] for bullets.
        quote = 0
        index = 0
        while index < len(tokens):
            token = tokens[index]
            kind = token.type
            indent = "   " * max(0, len(lists) - 1)
            prefix = "> " * quote
            if kind in ("bullet_list_open", "ordered_list_open"):
                lists.append(
                    [int(token.attrs.get("start") or 1) if kind == "ordered_list_open" else -1]
                )
            elif kind in ("bullet_list_close", "ordered_list_close"):
                lists.pop()
                out.append("")
            elif kind == "blockquote_open":
                quote += 1
            elif kind == "blockquote_close":
                quote -= 1
            elif kind == "list_item_open":
                counter = lists[-1]
                marker = "- " if counter[0] < 0 else f"{counter[0]}. "
                if counter[0] >= 0:
                    counter[0] += 1
                text = self._item(tokens, index)
                out.append(
                    _indent(text, prefix + indent + marker, prefix + indent + " " * len(marker))
                )
                index = _closing(tokens, index)
            elif kind == "heading_open":
                title = self.inline(tokens[index + 1].children or []).replace(_CODE_SPACE, " ")
                rule = "=" if token.tag in ("h1", "h2") else "-"
                out += [f"{prefix}{title}", f"{prefix}{rule * display_width(title)}", ""]
                index += 2
            elif kind == "paragraph_open":
                text = self.inline(tokens[index + 1].children or [])
                if text:
                    out += [
                        _indent(wrap(text, WIDTH - len(prefix)), prefix, prefix),
                        prefix.rstrip() if quote else "",
                    ]
                index += 2
            elif kind in ("fence", "code_block"):
                code = strip_escapes(token.content).rstrip("\n")  # Terminal colours: dropped.
                out += [_indent(code, prefix + "    ", prefix + "    "), ""]
            elif kind == "hr":
                out += [prefix + "-" * 20, ""]
            elif kind == "html_block":
                width = WIDTH - len(prefix) - len(indent)
                text = html_text(
                    iframe_links(token.content), self.reference, partial(wrap, width=width)
                )
                if text:
                    out += [_indent(text, prefix + indent, prefix + indent), ""]
            elif kind == "table_open":
                out += [*self._table(tokens, index), ""]
                index = _closing(tokens, index)
            elif kind == "footnote_block_open" and out and out[-1]:
                out.append("")
            elif kind == "footnote_open":
                marker = f"[{self._note(token)}] "
                body = self._item(tokens, index)
                out += [_indent(body, marker, " " * len(marker)), ""]
                index = _closing(tokens, index)
            index += 1
        return "\n".join(out)

    def _note(self, token: Token) -> int:
        """The reference number of the footnote a reference or a footnote's text belongs to."""
        return self.renderer.links.note(self.renderer.parts, int(token.meta.get("id", 0)))

    def _item(self, tokens: list[Token], index: int) -> str:
        """The text of a list item or footnote (its nested blocks rendered recursively)."""
        end = _closing(tokens, index)
        return self.blocks(tokens[index + 1 : end]).strip("\n")

    def _table(self, tokens: list[Token], index: int) -> list[str]:
        rows: list[list[str]] = []
        for token in tokens[index : _closing(tokens, index)]:
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline" and rows:
                rows[-1].append(self.inline(token.children or []))
        return [" | ".join(row) for row in rows]

    def reference(self, href: str) -> str:
        """The marker (` [3]`) of a link to `href` as written; "" for what is not linked."""
        href = self.renderer.fields.in_url(href)  # A field's default, never a reader's value.
        url = self.renderer.assets.resolve(self.renderer.parser.normalizeLink(href), self.source)
        if not url or url.startswith("#"):
            return ""
        return f" [{self.renderer.links.number(url)}]"

    def inline(self, children: list[Token]) -> str:
        parts: list[str] = []
        href: str | None = None
        label_start = 0
        hidden = 0  # Inside an inline <script> or <style>: its text is no reading.
        for child in children:
            kind = child.type
            if hidden and kind != "html_inline":
                continue
            if kind == "text":
                parts.append(
                    child.content if href is not None else text_urls(child.content, self.reference)
                )
            elif kind == "code_inline" and href is None and TEXT_URL.fullmatch(child.content):
                parts.append(text_urls(child.content, self.reference))  # `https://…`: a URL.
            elif kind == "code_inline":  # Never broken across lines: a command stays whole.
                parts.append(f"`{child.content.replace(' ', _CODE_SPACE)}`")
            elif kind == "softbreak":
                parts.append("" if _cjk_edge(parts) else " ")
            elif kind == "hardbreak":
                parts.append("\n")
            elif kind in ("link_open", "link_close"):
                href, label_start = self._link(parts, href, label_start, child)
            elif kind == "image":
                alt = link_label(child.content.strip())
                if alt:
                    parts.append(f"[{alt}]")
            elif kind == "footnote_ref":
                parts.append(f"[{self._note(child)}]")
            elif kind == "html_inline":
                tag = html_tag(child.content)
                if tag is None:
                    continue
                name, attributes, closing = tag
                if name in HIDDEN_TAGS:
                    hidden = max(0, hidden + (-1 if closing else 1))
                elif name == "a":
                    link = Token(
                        "link_close" if closing else "link_open", "a", -1 if closing else 1
                    )
                    link.attrs = {"href": attributes.get("href", "")}
                    href, label_start = self._link(parts, href, label_start, link)
                elif name == "br":
                    parts.append("\n")
                elif name == "img" and attributes.get("alt", "").strip():
                    parts.append(f"[{link_label(attributes['alt'].strip())}]")
        return "".join(parts).strip()

    def _link(
        self, parts: list[str], href: str | None, start: int, token: Token
    ) -> tuple[str | None, int]:
        """A link opened (its href and where its label starts) or closed (its label, a URL in
        it replaced by the host, then its reference number): Markdown and HTML links alike."""
        if token.type == "link_open":
            return (
                (str(token.attrs.get("href") or ""), len(parts)) if href is None else (href, start)
            )
        if href is None:
            return None, start
        label = link_label("".join(parts[start:]))
        parts[start:] = [label, self.reference(href) if label.strip() else ""]
        return None, start


def _closing(tokens: list[Token], index: int) -> int:
    """Index of the token closing the one opened at `index`."""
    depth = 0
    for position in range(index, len(tokens)):
        depth += tokens[position].nesting
        if depth == 0:
            return position
    return len(tokens) - 1


def wrap(text: str, width: int = WIDTH) -> str:
    """Wrap spaced text at `width`; leave text in unspaced scripts to the reader's client."""
    if measure_text(text).is_cjk:
        return text
    lines = text.split("\n")
    return "\n".join(
        textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) for line in lines
    )


def _indent(text: str, first: str, rest: str) -> str:
    lines = text.split("\n")
    return "\n".join(
        (first if number == 0 else rest) + line if line else line
        for number, line in enumerate(lines)
    )


def _cjk_edge(parts: list[str]) -> bool:
    """Whether the text so far ends in a CJK character (a line break there is no space)."""
    last = "".join(parts)[-1:]
    return bool(last) and unicodedata.east_asian_width(last) in "WF"
