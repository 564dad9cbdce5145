"""The configuration's named segments, read as `send --to NAME` would: `check` reports a
segment that does not parse before a send or a schedule needs it."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.audience.segments import SegmentError, parse_segment
from newsletter.config import Project
from newsletter.model import Note


def segment_notes(project: Project) -> list[Note]:
    """An error for each named segment that does not parse, at its line of the configuration."""
    source = project.source or Path("config/newsletter.toml")
    notes = []
    for name, text in project.config.segments.items():
        try:
            parse_segment(text)
        except SegmentError as error:
            message = f"segments.{name}: {error.message}"
            notes.append(Note("error", message, source, _line_of(source, name), error.hint))
    return notes


def _line_of(source: Path, name: str) -> int | None:
    """The line that names segment `name` in the configuration file: in its `[segments]` table,
    or in an inline `segments = { ... }`; None when it cannot be found."""
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    key = rf"""["']?{re.escape(name)}["']?\s*="""
    inside = False
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.replace(" ", "") == "[segments]"
            continue
        inline = not inside and re.match(r"segments\s*=\s*\{", stripped)
        if (inside and re.match(key, stripped)) or (inline and re.search(key, stripped)):
            return number
    return None
