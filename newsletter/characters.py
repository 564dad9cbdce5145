"""Characters that text from outside may not carry where it goes: the one set of rules.

- Subscriber values (a CSV row, a form, the command line): no control character and no lone
  surrogate. PostgreSQL refuses NUL in text (and one refused value aborts the whole transaction
  it is in), a control character has no business in a name, a tag or a mail header, and a lone
  surrogate cannot be encoded at all. Free-form attribute values may keep tabs and line breaks.
- Header values: nothing that could end the line (`one_line`).
- HTML and XML (the email, the web page, the feeds): none of the characters XML 1.0 forbids or
  discourages (`strip_not_xml`).
"""

from __future__ import annotations

import re

_CONTROLS = "\x00-\x1f\x7f-\x9f"  # C0 controls, DEL, C1 controls (NEL breaks lines for some).
_CONTROLS_BUT_TEXT = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # The same but tab, LF and CR.
_SEPARATORS = "\u2028\u2029"  # Unicode's line and paragraph separators.
_SURROGATES = "\ud800-\udfff"
_BMP_NONCHARACTERS = "\ufdd0-\ufdef\ufffe\uffff"  # Those beyond: U+1FFFE, U+1FFFF... U+10FFFF.

_ANY = re.compile(f"[{_CONTROLS}{_SEPARATORS}{_SURROGATES}]")
_IN_TEXT = re.compile(f"[{_CONTROLS_BUT_TEXT}{_SURROGATES}]")
_BREAKS_HEADER = re.compile(f"[{_CONTROLS}{_SEPARATORS}]+")
# What HTML and XML text must not hold. Python's re is slow (ten times) on a class that holds
# characters beyond U+FFFF, so every character from U+1FFFE on is a candidate (one range, fast)
# and the noncharacters among them (U+nFFFE, U+nFFFF) are picked out by their code.
_NOT_IN_XML_CANDIDATES = re.compile(
    f"[{_CONTROLS_BUT_TEXT}{_SURROGATES}{_BMP_NONCHARACTERS}\U0001fffe-\U0010ffff]+"
)


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


def visible(value: str, *, multiline: bool = False) -> str:
    """`value` with each forbidden character shown as U+FFFD, to put back into a form; with
    `multiline`, tabs and line breaks stay."""
    return (_IN_TEXT if multiline else _ANY).sub("\ufffd", value)


def one_line(value: str) -> str:
    """A header value that cannot break its line: each run of control characters or line
    separators (CR, LF, NUL, NEL, U+2028...) becomes one space.

    Every value a header is written with passes here (content, configuration, subscribers):
    a title "Hi\\r\\nBcc: victim@..." must stay one Subject, never become a second header.
    """
    return _BREAKS_HEADER.sub(" ", value) if _BREAKS_HEADER.search(value) else value


_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def display_text(value: str) -> str:
    """A name as an address header shows it: on one line, runs of spaces as one, without the
    bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which can
    make a name read as another (`invoice`, U+202E, `fdp.exe` shows as "invoiceexe.pdf")."""
    return " ".join(one_line(_BIDI_CONTROLS.sub("", value)).split())


def may_hold_not_xml(text: str) -> bool:
    """False when `text` surely holds nothing HTML and XML forbid (one fast scan); True may
    also mean a character beyond U+1FFFE that is allowed (`strip_not_xml` tells them apart)."""
    return _NOT_IN_XML_CANDIDATES.search(text) is not None


def strip_not_xml(text: str) -> str:
    """`text` without the characters HTML and XML do not allow: C0 controls but tab, LF and CR,
    DEL, C1 controls, lone surrogates, noncharacters (U+FDD0-U+FDEF, U+nFFFE, U+nFFFF)."""
    if not may_hold_not_xml(text):
        return text
    return _NOT_IN_XML_CANDIDATES.sub(_allowed_part, text)


def _allowed_part(match: re.Match[str]) -> str:
    return "".join(char for char in match.group() if _allowed_beyond_bmp(char))


def _allowed_beyond_bmp(char: str) -> bool:
    """Whether a candidate is allowed: only a character beyond U+FFFF that is no noncharacter."""
    code = ord(char)
    return code > 0xFFFF and code & 0xFFFE != 0xFFFE
