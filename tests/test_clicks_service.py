"""Clicks survive a stop: `newsletter serve` and `newsletter run` as real processes write every
click they answered when SIGTERM or Ctrl-C (SIGINT) stops them.

The project's issue is sent for real (test_clicks_web.sent_project); the service runs on a free
port of 127.0.0.1; its tracking links are followed with urllib, redirects not followed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from .test_clicks_web import BROWSER, PAPER, SECRET, emailed_links, sent_project
from .test_service import free_port

pytestmark = pytest.mark.slow  # Real processes, a few seconds each: sent out first (conftest.py).
CLICKS = 40


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: object, **__: object) -> None:
        return None  # The 302 itself is the answer (urllib raises it as an HTTPError).


def _follow(url: str) -> tuple[int, str]:
    """The status and Location of one request of `url` by a browser, redirects not followed."""
    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": BROWSER})
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, answer.headers.get("Location", "")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("command", "stop"), [("serve", signal.SIGTERM), ("run", signal.SIGINT)], ids=["serve", "run"]
)
def test_every_click_answered_is_written_when_the_service_is_stopped(
    tmp_path: Path, command: str, stop: signal.Signals
) -> None:
    root = sent_project(tmp_path / "project")
    path = emailed_links(root)[PAPER].rsplit("/", 1)[0]  # The aggregate link: /l/LINK.
    port = free_port()
    log_path = root / f"{command}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "--config", "config/newsletter.toml", command,
             "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
            cwd=root, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        answers = {_follow(f"http://127.0.0.1:{port}{path}") for _ in range(CLICKS)}
        assert answers == {(302, PAPER)}
        process.send_signal(stop)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with closing(sqlite3.connect(root / "news.db")) as db:
        written = db.execute("SELECT agent, count(*) FROM link_click GROUP BY agent").fetchall()
    assert written == [("browser", CLICKS)], log_path.read_text()
