"""Checks on the one-line fields that become email headers: titles (the subject) and preheaders.

A line break in a title would start a header of its own if it reached a message ("Hi\\r\\nBcc:
victim@..."). Messages never carry one (characters.one_line turns it into a space), but
the editor should know the title is not what it seems: front matter can hold "\\r\\n" in a
quoted YAML or TOML string.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from newsletter.characters import line_breaking
from newsletter.model import Edition, Note

_NAMES = {
    "\r": "a carriage return (CR)",
    "\n": "a line feed (LF)",
    "\x00": "a NUL byte",
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def control_characters(edition: Edition) -> Iterator[Note]:
    """An error for each title or preheader of the edition that holds a control character."""
    fields = [
        ("title", edition.title, edition.source, edition.title_line),
        ("preheader", edition.preheader, edition.source, edition.meta_lines.get("preheader")),
        *(
            ("story title", story.title, story.source, story.meta_lines.get("title", story.line))
            for story in edition.stories
        ),
    ]
    for field, value, source, line in fields:
        if value and (found := line_breaking(value)):
            yield _note(field, found, source, line)


def _note(field: str, char: str, source: Path, line: int | None) -> Note:
    what = _NAMES.get(char, f"the control character U+{ord(char):04X}")
    return Note(
        "error",
        f"the {field} holds {what}: titles and preheaders are one line of text "
        "(in a subject, a line break would start a header of its own)",
        source,
        line,
        f"write the {field} on one line without escapes such as \\r or \\n",
        code="control-character",
    )
