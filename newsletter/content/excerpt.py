"""Excerpts: text shortened to a length at a word boundary, with an ellipsis.

The preheader made from an issue's lead and the archive's excerpt of an issue are this text.
A cut falls where a line could break: at a space, or next to a character of a script written
without spaces (Chinese, Japanese, Thai...), never inside a word of a spaced script, and never
inside a grapheme (a letter and its combining marks, an emoji sequence, a surrogate pair). Only
a text with no such place in reach (one long word, a URL) is cut inside a word, between two
graphemes.
"""

from __future__ import annotations

import regex

ELLIPSIS = "…"
_GRAPHEME = regex.compile(r"\X")
_UNSPACED = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
    r"\u3000-\u303f\uff00-\uffef]"
)
"""Scripts written without spaces, and their punctuation: a line may break next to each."""
_TRAILING = regex.compile(
    r"(?:[\s\p{Pd}\p{Ps}\p{Pi}[\p{Po}--[%‰‱#&*@/\\'\"†‡′″]]]|(?:^|(?<=\s))['\"])+$",
    regex.VERSION1,
)
"""What an excerpt does not end in before its ellipsis: spaces, dashes, commas, full stops,
opening brackets and quotes (an ASCII quote opens when a space comes before it). What belongs
to the word before stays: closing brackets and quotes, `%`, `#`, `&`, `@`, `/`."""


def excerpt(text: str, limit: int) -> str:
    """`text` on one line, and if longer than `limit` characters, cut at the last word boundary
    that leaves room for an ellipsis (at most `limit` characters in all)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    budget = limit - len(ELLIPSIS)
    graphemes: list[str] = []
    used = 0
    for grapheme in _GRAPHEME.findall(text):
        if used + len(grapheme) > budget:
            break
        graphemes.append(grapheme)
        used += len(grapheme)
    following = text[used : used + 1]
    cut = len(graphemes)
    if not _breaks(graphemes[-1] if graphemes else "", following):
        # The last break at or before the budget, unless it would drop more than half of the
        # text in reach (a very long word): that word is then cut between two graphemes.
        cut = next(
            (at for at in range(len(graphemes) - 1, 0, -1) if _breaks(*graphemes[at - 1 : at + 1])),
            0,
        )
        if len("".join(graphemes[:cut])) < budget // 2:
            cut = len(graphemes)
    kept = _TRAILING.sub("", "".join(graphemes[:cut]))
    return kept + ELLIPSIS if kept else "".join(graphemes) + ELLIPSIS


def _breaks(before: str, after: str) -> bool:
    """Whether a line may break between the grapheme `before` and the grapheme `after`."""
    if not before or not after:
        return True
    return (
        before.isspace()
        or after.isspace()
        or bool(_UNSPACED.match(before[0]))
        or bool(_UNSPACED.match(after[0]))
    )
