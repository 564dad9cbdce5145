"""The Markdown dialect of issues (CommonMark, tables, strikethrough, footnotes) and plain text from it."""

from __future__ import annotations

import re

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
