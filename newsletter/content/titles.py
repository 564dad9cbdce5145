"""Titles for stories that have no heading: the items of a link list."""

from __future__ import annotations

import re

from newsletter.content.language import display_width
from newsletter.content.markdown import INLINE_LINK

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s)")
_CLAUSE_END = re.compile(r"[，、；：,;:]")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_TITLE_WIDTH = 80
"""Widest title, in terminal cells (a CJK character takes two)."""


def story_title_from_text(text: str) -> str | None:
    """A short title for a link-list story: its bold lead-in, else its first sentence or clause."""
    bold = re.match(r"^\s*(\*\*|__)(.+?)\1", text)
    if bold:
        return _unlink(bold.group(2)).strip(" :：-–—")
    lead_link = re.match(r"^\s*\[([^\]]+)\](?:\(|\[)", text)
    if lead_link:
        return lead_link.group(1).strip()
    plain = _unlink(text)
    plain = re.sub(r"[*_`]+", "", plain).strip()
    if not plain:
        return None
    first = _SENTENCE_END.split(plain, maxsplit=1)[0].strip().rstrip("。.!?！？")
    if display_width(first) > _TITLE_WIDTH:
        first = _CLAUSE_END.split(first, maxsplit=1)[0].strip()
    if display_width(first) > _TITLE_WIDTH:
        first = _truncate(first)
    return first or None


def _unlink(text: str) -> str:
    """Markdown text with inline and reference-style links replaced by their text."""
    return _REFERENCE_LINK.sub(lambda m: m.group(1), INLINE_LINK.sub(lambda m: m.group(1), text))


def _truncate(text: str) -> str:
    """Cut at a word boundary (or between two CJK characters) to fit the title width."""
    out = ""
    for unit in re.findall(
        r"[\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]+\s*|\s+",
        text,
    ):
        if display_width(out + unit) > _TITLE_WIDTH - 1:
            break
        out += unit
    return (out.rstrip() or text[: _TITLE_WIDTH // 2]) + "…"
