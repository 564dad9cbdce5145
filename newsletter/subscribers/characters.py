"""Characters a subscriber's values may not hold: control characters and lone surrogates.

PostgreSQL refuses NUL in text (and one refused value aborts the whole transaction it is in), a
control character has no business in a name, a tag or a mail header, and a lone surrogate cannot
be encoded at all. Every value that reaches the database from outside (a CSV row, a form, the
command line) is checked here first. Free-form attribute values may keep tabs and line breaks.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the Unicode line and paragraph separators, lone surrogates.
_ANY = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The same, but tab, line feed, carriage return and the separators are text.
_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control(value: str) -> bool:
    """Whether `value` holds any character `forbidden_character` looks at (a fast first test)."""
    return _ANY.search(value) is not None


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """What is wrong with `value` (`contains a control character (U+0000) at character 3`), or
    None; with `multiline`, tabs and line breaks are allowed."""
    found = (_IN_TEXT if multiline else _ANY).search(value)
    if found is None:
        return None
    code = ord(found.group())
    kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
    return f"contains {kind} (U+{code:04X}) at character {found.start() + 1}"


def visible(value: str) -> str:
    """`value` with each forbidden character shown as U+FFFD, to put back into a form."""
    return _ANY.sub("\ufffd", value)
