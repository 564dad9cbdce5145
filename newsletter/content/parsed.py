"""Each Markdown part of a single-file issue parsed once: the tokens that the parse of the whole
body gave a part (its lead, a section's intro, a story) are kept for rendering it.

A part is a run of whole top-level blocks (it starts at a heading or a thematic break, which
close any block before them), so its text parsed alone gives the same tokens, line maps aside
(these are the body's lines), unless something outside it changes its parse: a footnote or
link-reference definition elsewhere in the body (structure.py keeps nothing for such a body).
Left out here, and parsed again when rendered: list items (re-indented before rendering), texts
that are not their lines verbatim, and parts ending in raw HTML or a fence, whose content ends
with a line break in the body and without one in the part alone.
"""

from __future__ import annotations

from typing import NamedTuple

from markdown_it.token import Token


class PartSpan(NamedTuple):
    """Where a part's text was cut from: lines `start` to `end` (exclusive) of the body."""

    start: int
    end: int
    item: bool
    """A list item (its text is re-indented)."""


def parsed_parts(
    tokens: list[Token], spans: list[PartSpan], texts: list[str], lines: list[str]
) -> dict[str, list[Token]]:
    """Each part's text with the tokens of its blocks (see the module's docstring); `texts`
    are the parts' texts, cut from `lines` (the body's) by `spans`."""
    starts: list[tuple[int, int]] = []  # (first line, token index) of each top-level block
    depth = 0
    for index, token in enumerate(tokens):
        if depth == 0 and token.map is not None:
            starts.append((token.map[0], index))
        depth += token.nesting
    parsed: dict[str, list[Token]] = {}
    for span, text in zip(spans, texts, strict=True):
        verbatim = "\n".join(lines[span.start : span.end])
        if span.item or not text or text != verbatim.strip("\n"):
            continue
        inside = [at for line, at in starts if span.start <= line < span.end]
        after = [at for line, at in starts if line >= span.end]
        if not inside:
            continue
        first = span.start + len(verbatim) - len(verbatim.lstrip("\n"))
        part = tokens[inside[0] : after[0] if after else len(tokens)]
        if not _ends_raw(part, first + text.count("\n") + 1):
            parsed[text] = part
    return parsed


def _ends_raw(part: list[Token], end: int) -> bool:
    """Whether a block kept as raw lines (raw HTML, a fence) reaches line `end` - 1, the
    part's last."""
    return any(
        token.type in ("html_block", "fence") and token.map is not None and token.map[1] >= end
        for token in part
    )
