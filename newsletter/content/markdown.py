"""The Markdown dialect of issues (CommonMark, tables, strikethrough, footnotes) and plain text from it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

INLINE_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""An inline Markdown link `[text](url "title")`: group 1 the text, group 2 the URL."""
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
"""A code span: backticks, then anything up to the same number of backticks."""
_HTML_HREF = re.compile(
    r"""<a\b[^>]*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE
)


_FOOTNOTE_MARK = re.compile(r"\[\^[^\]\s]+\]")
"""A footnote reference markdown-it left as text (its definition is in no part of the file)."""
_INLINE_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "i",
        "ins",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "var",
    ]
)
"""Tags inside a line of text: no space where they start or end."""
HIDDEN_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
"""Raw HTML elements whose text is no reading: left out of every text made from a page."""


def markdown_parser() -> MarkdownIt:
    """A fresh markdown-it parser for issue content; build one per use site, not per call."""
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).use(footnote_plugin)


def inline_text(token: Token) -> str:
    """The visible text of an inline token: emphasis and link markup removed, images by their alt."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts).strip()


def plain_text(parser: MarkdownIt, markdown: str) -> str:
    """The readable text of a Markdown document, one block a line, without markup or URLs."""
    return tokens_text(parser.parse(markdown))


def tokens_text(tokens: list[Token]) -> str:
    """The readable text of parsed Markdown, one block a line (see plain_text)."""
    lines = [inline_text(token) for token in tokens if token.type == "inline"]
    return "\n".join(line for line in lines if line)


def code_lines(tokens: list[Token]) -> set[int]:
    """Line numbers (0-based) inside fenced or indented code blocks, at any depth."""
    return {
        number
        for token in tokens
        if token.type in ("fence", "code_block") and token.map
        for number in range(token.map[0], token.map[1])
    }


def link_targets(tokens: list[Token]) -> list[str]:
    """The targets of every link in parsed Markdown, as written: Markdown links and autolinks
    (footnotes included) and `<a href>` in raw HTML; never a URL that is only text or code."""
    targets: list[str] = []
    for token in tokens:
        for child in [token, *(token.children or [])]:
            if child.type == "link_open":
                targets.append(str(child.attrs.get("href") or ""))
            elif child.type in ("html_inline", "html_block"):
                targets += ["".join(found) for found in _HTML_HREF.findall(child.content)]
    return targets


def prose_text(parser: MarkdownIt, markdown: str) -> str:
    """The running text of a Markdown document as a reader reads it, one block a line: without
    image alt texts, footnotes or their markers, tags (raw HTML gives its text, never its
    scripts or styles) or link URLs. What a preheader and an excerpt are cut from."""
    blocks: list[str] = []
    notes = 0  # Inside the footnotes at the end: not the running text.
    for token in parser.parse(markdown):
        if token.type == "footnote_block_open":
            notes += 1
        elif token.type == "footnote_block_close":
            notes -= 1
        elif notes:
            continue
        elif token.type == "inline":
            blocks.append(_inline_prose(token.children or []))
        elif token.type == "html_block":
            blocks.append(_html_prose(token.content))
    return "\n".join(" ".join(block.split()) for block in blocks if block.strip())


def _inline_prose(children: list[Token]) -> str:
    parts: list[str] = []
    hidden = 0  # Inside an inline <script> or <style>.
    for child in children:
        if child.type == "html_inline":
            name, _, closing = html_tag(child.content) or ("", {}, False)
            if name in HIDDEN_TAGS:
                hidden = max(0, hidden + (-1 if closing else 1))
            elif name == "br":
                parts.append(" ")
        elif hidden:
            continue
        elif child.type == "text":
            parts.append(_FOOTNOTE_MARK.sub("", child.content))
        elif child.type == "code_inline":
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _html_prose(html: str) -> str:
    """The text of a block of raw HTML: tags, comments, scripts and styles left out."""
    reader = _ProseReader(convert_charrefs=True)
    reader.feed(html)
    reader.close()
    return "".join(reader.words)


class _ProseReader(HTMLParser):
    """The words of raw HTML, a space where a block starts or ends."""

    def reset(self) -> None:
        super().reset()
        self.words: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden += 1
        elif tag not in _INLINE_TAGS:
            self.words.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag not in _INLINE_TAGS:
            self.words.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.words.append(_FOOTNOTE_MARK.sub("", data))


def html_tag(html: str) -> tuple[str, dict[str, str], bool] | None:
    """(tag name, attributes, is a closing tag) of one tag of inline HTML; None for a comment,
    a declaration or anything that is not a tag."""
    parser = _OneTag()
    parser.feed(html)
    parser.close()
    return parser.found[0] if parser.found else None


class _OneTag(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {name: value or "" for name, value in attrs}, False))

    def handle_endtag(self, tag: str) -> None:
        self.found.append((tag, {}, True))
