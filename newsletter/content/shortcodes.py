"""Find static-site-generator shortcodes (Hugo, Jekyll/Liquid, Zola) that Markdown shows as text.

`newsletter` renders plain Markdown. A shortcode copied from a blog post is kept verbatim so the
editor sees it, and `check` reports it so it can be replaced by a link or an image.
A subscriber field (`{{ subscriber.company }}`) is not one: check/merge_fields.py judges it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from newsletter.content.markdown import INLINE_CODE, code_lines

_PATTERN = re.compile(
    r"""
    \{\{<\s*(?P<hugo>/?\s*[\w./-]+)           # Hugo {{< name ... >}}
  | \{\{%\s*(?P<hugo_md>/?\s*[\w./-]+)        # Hugo {{% name ... %}}
  | \{%-?\s*(?P<tag>\w+)                      # Liquid {% tag %} and Zola {% name() %}
  | \{\{-?\s*(?P<call>\w+)\s*\(               # Zola {{ name(args) }}
  | \{\{-?\s*(?!subscriber\.)(?P<var>[\w.]+)\s*(?:\|[^}]*)?-?\}\}   # Liquid {{ site.baseurl }}
    """,
    re.VERBOSE,
)
_CLOSERS = re.compile(r"^(end\w*|/.*)$")
_DIALECTS = {
    "hugo": "Hugo",
    "hugo_md": "Hugo",
    "tag": "Liquid/Zola",
    "call": "Zola",
    "var": "Liquid",
}


@dataclass(frozen=True)
class Shortcode:
    """One shortcode occurrence: its name, the generator it comes from and its line."""

    name: str
    dialect: str
    line: int
    text: str


def find_shortcodes(parser: MarkdownIt, markdown: str, first_line: int = 1) -> list[Shortcode]:
    """Opening shortcodes in `markdown` outside code blocks and code spans, in order."""
    lines = markdown.split("\n")
    code = code_lines(parser.parse(markdown))
    found = []
    for index, line in enumerate(lines):
        if index in code:
            continue
        visible = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        for match in _PATTERN.finditer(visible):
            kind = match.lastgroup or ""
            name = re.sub(r"\s+", "", match.group(kind))
            if _CLOSERS.match(name):
                continue
            end = visible.find("}}", match.end())
            end = visible.find("%}", match.end()) if end < 0 else end
            text = line[match.start() : end + 2 if end >= 0 else match.end()]
            text = text if len(text) <= 60 else text[:59] + "…"
            found.append(
                Shortcode(name=name, dialect=_DIALECTS[kind], line=first_line + index, text=text)
            )
    return found
