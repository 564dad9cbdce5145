"""The service's log (service/logs.py): one line a record, whatever its message holds, with a
traceback, when one is asked for, on the lines after it."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What PostgreSQL's client library says when the server goes away: three lines, indented.
LIBPQ = (
    "consuming input failed: server closed the connection unexpectedly\n"
    "\tThis probably means the server terminated abnormally\n"
    "\tbefore or while processing the request."
)


def logged(code: str) -> list[str]:
    """The lines on standard error of a process that configures the log as `newsletter run`
    does, then runs `code`."""
    script = (
        "import logging\n"
        "from newsletter.service.logs import configure_logging\n"
        "configure_logging(logging.INFO)\n"
        "log = logging.getLogger('newsletter.deliver.wakeup')\n" + code
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stderr.splitlines()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            LIBPQ,
            "consuming input failed: server closed the connection unexpectedly This probably "
            "means the server terminated abnormally before or while processing the request.",
        ),
        (  # A reply, or a value a reader sent, that would forge a record of its own.
            "250 ok\r\n2026-12-04 10:00:00,000 ERROR MainProcess newsletter: forged",
            "250 ok 2026-12-04 10:00:00,000 ERROR MainProcess newsletter: forged",
        ),
        ("a\u2028b\x85c\x00d", "a b c d"),  # Separators a terminal or a collector breaks at.
    ],
)
def test_a_record_stays_on_one_line_whatever_its_message_holds(text: str, shown: str) -> None:
    [line] = logged(f"log.warning('stopped listening: %s', {text!r})")
    assert line.endswith(
        " WARNING MainProcess newsletter.deliver.wakeup: stopped listening: " + shown
    )


def test_a_traceback_asked_for_follows_on_its_own_lines() -> None:
    lines = logged("try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('two\\nlines')")
    assert lines[0].endswith(" ERROR MainProcess newsletter.deliver.wakeup: two lines")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"
