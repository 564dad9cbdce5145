"""From and To: one address with its display name, whatever the name holds.

A name is whatever a subscriber typed or the configuration says: quotes, commas, angle
brackets, non-ASCII letters, text that looks like an RFC 2047 encoded word
(`=?utf-8?q?Your_Bank?=`), bidirectional controls. The header must still hold one address, and
a mail client must show the name as it was written, never decode a stranger's look-alike into
other text. The email package's folding cannot promise that (it decodes encoded-word look-alikes
when it refolds a header), so these headers are written here, encoded with its `Header`, and
never refolded.
"""

from __future__ import annotations

import functools
import re
from email.header import Header

from newsletter.characters import display_text, one_line

_QUOTE_NEEDED = re.compile(r'[()<>\[\]:;@\\,."]')
_LINE = 76


def address_header(name: str, address: str, header: str = "To") -> str:
    """The value of an address header: `Name <address>`, the name as `display_name` writes it,
    the address alone when the name is empty; folded at spaces, never refolded."""
    address = one_line(address).strip()
    words = _words(name, header)
    if not words:
        return address
    return _folded([*words, f"<{address}>"], len(header) + 2)


@functools.lru_cache(maxsize=4096)
def _words(name: str, header: str) -> tuple[str, ...]:
    """The phrase words of `name` as shown (`display_text`); cached: names repeat."""
    return display_name(display_text(name), header) if name else ()


@functools.lru_cache(maxsize=4096)
def display_name(name: str, header: str = "To") -> tuple[str, ...]:
    """`name` as the words of a header phrase (cached: names repeat).

    Words of printable ASCII stay as they are, or quoted when they hold specials (`"`, `,`,
    `<`...); a run of words that are not ASCII, or hold `=?` (an encoded word's look-alike,
    which clients would decode), is one RFC 2047 encoded word, spaces inside: whitespace
    between two encoded words is not part of the text (RFC 2047, 6.2).
    """
    words: list[str] = []
    run: list[str] = []
    for word in name.split():
        if word.isascii() and word.isprintable() and "=?" not in word:
            if run:
                words.append(_encoded(" ".join(run), header))
                run = []
            quoted = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
            words.append(quoted if _QUOTE_NEEDED.search(word) else word)
        else:
            run.append(word)
    if run:
        words.append(_encoded(" ".join(run), header))
    return tuple(words)


def _encoded(text: str, header: str) -> str:
    """`text` as RFC 2047 encoded words (UTF-8), folded when long."""
    encoded: str = Header(text, "utf-8", maxlinelen=_LINE, header_name=header).encode(
        linesep="\r\n"
    )
    return encoded


def _folded(words: list[str], used: int) -> str:
    """`words` joined by spaces, a line break before a word that would make a line too long."""
    line = " ".join(words)
    if used + len(line) <= _LINE and "\r\n" not in line:
        return line  # Nearly every name and address.
    value, width = "", used
    for word in words:
        first = word.split("\r\n", 1)[0]
        if value and width + 1 + len(first) > _LINE:
            value, width = f"{value}\r\n ", 1
        elif value:
            value, width = f"{value} ", width + 1
        value += word
        width = len(word.rsplit("\r\n", 1)[-1]) + (width if "\r\n" not in word else 0)
    return value
