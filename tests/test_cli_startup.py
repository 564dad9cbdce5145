"""The command line's start-up: garbage collection held off while a command starts, and back on
for its work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STATE = (
    "import atexit, gc, sys; "
    "atexit.register(lambda: print('collecting:', gc.isenabled(), gc.get_freeze_count() > 0)); "
    "sys.argv = ['newsletter', *sys.argv[1:]]; "
    "from newsletter.cli import main; main()"
)


def collecting_at_exit(folder: Path, *args: str) -> str:
    """Whether a `newsletter` command ended with collection on and start-up's objects frozen."""
    result = subprocess.run(
        [sys.executable, "-c", STATE, *args], cwd=folder, capture_output=True, text=True, timeout=60
    )
    return result.stdout.splitlines()[-1]


@pytest.mark.parametrize("args", [("config",), ("subscribers", "list")])
def test_a_command_collects_garbage_again_once_it_has_loaded_its_project(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # Collection is held off from the start (main) to the project (context.project_of): the
    # objects made meanwhile live as long as the process and are frozen out of every pass.
    assert collecting_at_exit(tmp_path, *args) == "collecting: True True"


def test_help_ends_without_a_collection_it_never_needed(tmp_path: Path) -> None:
    assert collecting_at_exit(tmp_path, "--help") == "collecting: False False"
