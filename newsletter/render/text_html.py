"""Raw HTML and URLs written as text, for the plain-text part.

A story may hold HTML (`<a href>`, `<img alt>`, `<br>`, a `<p>` block): the text part shows what
a reader sees in it, never a tag. An `<a href>` is a link like a Markdown one (its label and a
reference number), an `<img>` shows its alt text in brackets, a block element starts a paragraph.

A URL written as text (a bare URL, an autolink, a link labelled with its own URL) is never left in
running text, where a client that finds URLs takes the word glued to it as well: the URL's host
stands in the text with the reference number, the URL itself in the list of links.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

from newsletter.content.markdown import HIDDEN_TAGS

TEXT_URL = re.compile(
    r"(?<![A-Za-z0-9+.-])(?:https?|ftp)://[^\s<>\"'`\u3000-\u303f\uff00-\uffef]+", re.IGNORECASE
)
"""A URL written in text, up to a space, a quote or CJK punctuation (`，`, `。`, `）`: Chinese
and Japanese put no space after a URL); trailing punctuation is taken off (see split_url)."""
_TRAILING = ".,;:!?*_~"
_SPACE = re.compile(r"\s+")

Reference = Callable[[str], str]
"""The marker (` [3]`) of a link to a URL as written, "" when it is not linked (an anchor, a
script); assigns the URL its number."""

_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
    ]
)


def url_label(url: str) -> str:
    """What stands in running text for a URL written as text: its host, without `www.`."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.") or url.split(":", 1)[0]


def split_url(found: str) -> tuple[str, str]:
    """(URL, what follows it) of a URL found in text: final punctuation and an unmatched
    closing bracket belong to the sentence, not to the URL."""
    url = found
    while url and (
        url[-1] in _TRAILING
        or (url[-1] == ")" and url.count(")") > url.count("("))
        or (url[-1] == "]" and url.count("]") > url.count("["))
    ):
        url = url[:-1]
    return url, found[len(url) :]


def text_urls(text: str, reference: Reference) -> str:
    """`text` with every URL in it replaced by its host and reference number."""

    def replace(match: re.Match[str]) -> str:
        url, rest = split_url(match.group(0))
        if not urlsplit(url).hostname:
            return match.group(0)  # `https://` alone names nothing.
        marker = reference(url)
        return f"{url_label(url)}{marker}{rest}" if marker else match.group(0)

    return TEXT_URL.sub(replace, text)


def link_label(label: str) -> str:
    """A link's label as the text part shows it: a URL in it replaced by its host."""
    return TEXT_URL.sub(lambda match: url_label(split_url(match.group(0))[0]), label)


def html_text(html: str, reference: Reference, wrap: Callable[[str], str]) -> str:
    """The text of a block of raw HTML: paragraphs (`wrap`ped) apart by blank lines, list items
    and table rows a line each, `<pre>` as written and indented like a code block, links
    numbered, images by their alt text, no tag and no script."""
    reader = _HtmlText(reference, wrap)
    reader.feed(html)
    reader.close()
    reader.flush()
    return "\n".join(reader.lines).strip("\n")


class _HtmlText(HTMLParser):
    def __init__(self, reference: Reference, wrap: Callable[[str], str]) -> None:
        super().__init__(convert_charrefs=True)
        self.reference = reference
        self.wrap = wrap
        self.pre = 0
        """Inside a `<pre>`: its spaces and lines are kept."""
        self.lines: list[str] = []
        self.words: list[str] = []
        """The text of the paragraph being read."""
        self.link: tuple[str, int] | None = None
        """(href, where its label starts in `words`) of the link being read."""
        self.hidden = 0
        self.cells = 0

    def flush(self, *, tight: bool = False) -> None:
        """End the paragraph being read: a blank line after it unless `tight` (a list item, a
        table row)."""
        if self.pre:
            code = "".join(self.words).strip("\n").rstrip()
            text = "\n".join(f"    {line}".rstrip() for line in code.split("\n")) if code else ""
        else:
            lines = "".join(self.words).split("\n")
            text = self.wrap("\n".join(" ".join(line.split()) for line in lines).strip())
        self.words = []
        self.link = None
        self.cells = 0
        if text:
            self.lines.append(text)
            if not tight:
                self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br":
            self.words.append("\n")
        elif tag in ("td", "th"):
            if self.cells:
                self.words.append(" | ")
            self.cells += 1
        elif tag in _BLOCKS:
            self.flush(tight=tag in ("li", "tr", "dt", "dd"))
            self.pre += tag == "pre"
            if tag == "li":
                self.words.append("- ")
            elif tag == "hr":
                self.lines += ["-" * 20, ""]
        elif tag == "a" and self.link is None:
            self.link = (attributes.get("href", ""), len(self.words))
        elif tag == "img" and attributes.get("alt", "").strip():
            self.words.append(f"[{link_label(attributes['alt'].strip())}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HIDDEN_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.flush(tight=tag in ("li", "tr", "dt", "dd"))
            self.pre -= tag == "pre" and self.pre > 0
        elif tag == "a" and self.link is not None:
            href, start = self.link
            self.link = None
            label = link_label("".join(self.words[start:]))
            self.words[start:] = [label, self.reference(href) if label.strip() else ""]

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            self.words.append(data)  # Code keeps what it says.
            return
        data = _SPACE.sub(" ", data)  # Lines of the source are no lines of the text; <br> is.
        self.words.append(data if self.link is not None else text_urls(data, self.reference))
