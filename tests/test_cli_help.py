"""Every command's --help at 80 columns: the terminal wraps the text, nothing is left stranded."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from newsletter.cli import app

WIDTH = 80
TEXT_WIDTH = WIDTH - 2  # Rich pads the help text by a column on each side.


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that name it."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


COMMANDS = list(command_paths(typer.main.get_command(app)))


def description(output: str) -> list[list[str]]:
    """The paragraphs of help text between the usage line and the first panel."""
    lines = output.splitlines()
    start = next(at for at, line in enumerate(lines) if line.strip().startswith("Usage:"))
    end = next(at for at, line in enumerate(lines) if line.startswith("╭"))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start + 1 : end]:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [paragraph for paragraph in paragraphs if paragraph]


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "send", "status", "schedule add", "subscribers import", "story add"} <= names
    assert len(names) > 30


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "newsletter")
def test_help_at_80_columns_has_no_stranded_words_and_examples_on_their_own_lines(
    path: tuple[str, ...],
) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= WIDTH
    paragraphs = description(result.output)
    assert paragraphs, f"{' '.join(path)} has no help text"
    for paragraph in paragraphs:
        text = " ".join(paragraph)
        assert "Example:" not in text or text.startswith("Example:"), (
            f"an example shares its paragraph with text: {paragraph}"
        )
        for line, following in pairwise(paragraph):
            # Wrapped by the terminal: a line ends only where the next word would not fit.
            assert len(line.split()) > 2, f"stranded words {line!r} in {paragraph}"
            assert len(line) + 1 + len(following.split()[0]) > TEXT_WIDTH, (
                f"line broken early: {line!r} then {following!r}"
            )
