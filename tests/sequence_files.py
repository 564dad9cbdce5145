"""A welcome sequence in two languages, written into a test project as an editor would."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

STEPS = {
    "01-welcome.md": "---\ntitle: Welcome aboard\nafter: 0 days\n---\nHello and welcome.\n",
    "01-welcome.de.md": "---\ntitle: Willkommen an Bord\n---\nHallo und willkommen.\n",
    "02-how-we-work.md": "---\ntitle: How we work\nafter: 3 days\n---\nWe write weekly.\n",
    "02-how-we-work.de.md": "---\ntitle: So arbeiten wir\n---\nWir schreiben jede Woche.\n",
}


def write_sequence(root: Path, steps: dict[str, str] = STEPS, name: str = "welcome") -> Path:
    """The files of sequences/NAME; returns its folder."""
    folder = root / "sequences" / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in steps.items():
        (folder / file_name).write_text(text, encoding="utf-8")
    return folder


class Ahead:
    """A clock running `days` ahead of the real one; picklable for the spawned workers."""

    def __init__(self, days: float) -> None:
        self.offset = timedelta(days=days)

    def __call__(self) -> datetime:
        from newsletter.db import utcnow

        return utcnow() + self.offset
