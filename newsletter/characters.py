"""Characters that text from outside may not carry where it goes: the one set of rules.

- Subscriber values (a CSV row, a form, the command line): no control character and no lone
  surrogate. PostgreSQL refuses NUL in text (and one refused value aborts the whole transaction
  it is in), a control character has no business in a name, a tag or a mail header, and a lone
  surrogate cannot be encoded at all. Free-form attribute values may keep tabs and line breaks.
- Header values: nothing that could end the line (`one_line`).
- HTML and XML (the email, the web page, the feeds): none of the characters XML 1.0 forbids or
  discourages (`NOT_IN_XML`).
"""

from __future__ import annotations

import re

_CONTROLS = "\x00-\x1f\x7f-\x9f"  # C0 controls, DEL, C1 controls (NEL breaks lines for some).
_CONTROLS_BUT_TEXT = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # The same but tab, LF and CR.
_SEPARATORS = "\u2028\u2029"  # Unicode's line and paragraph separators.
_SURROGATES = "\ud800-\udfff"
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)
)

_ANY = re.compile(f"[{_CONTROLS}{_SEPARATORS}{_SURROGATES}]")
_IN_TEXT = re.compile(f"[{_CONTROLS_BUT_TEXT}{_SURROGATES}]")
_BREAKS_HEADER = re.compile(f"[{_CONTROLS}{_SEPARATORS}]+")
NOT_IN_XML = f"{_CONTROLS_BUT_TEXT}{_SURROGATES}{_NONCHARACTERS}"
"""A regular expression class (without brackets) of what HTML and XML text must not hold."""


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


def line_breaking(value: str) -> str | None:
    """The first character of a one-line value (a title, a preheader) that is no text in a line:
    a control character but tab, a line or paragraph separator; None when there is none."""
    found = _BREAKS_HEADER.search(value.replace("\t", " "))
    return found.group()[0] if found else None


def visible(value: str) -> str:
    """`value` with each forbidden character shown as U+FFFD, to put back into a form."""
    return _ANY.sub("\ufffd", value)


def one_line(value: str) -> str:
    """A header value that cannot break its line: each run of control characters or line
    separators (CR, LF, NUL, NEL, U+2028...) becomes one space.

    Every value a header is written with passes here (content, configuration, subscribers):
    a title "Hi\\r\\nBcc: victim@..." must stay one Subject, never become a second header.
    """
    return _BREAKS_HEADER.sub(" ", value) if _BREAKS_HEADER.search(value) else value
