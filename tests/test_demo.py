"""`make demo` in a copy of the repository, then the commands it prints, as printed.

The printed commands must work (`make serve-demo`, `newsletter schedule weekly`, `make
run-demo`): subscribing on either web app sends the confirmation email to the local SMTP
server, where the demo says messages arrive (build/demo-inbox/new/), its link confirms on the
same local web app, and the demo messages' unsubscribe links open there too.
"""

from __future__ import annotations

import mailbox
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import pytest

from .conftest import ROOT

T = TypeVar("T")
VENV = Path(sys.executable).parent.parent
READER = "new.reader@example.org"
pytestmark = pytest.mark.slow  # Run first in parallel runs (conftest.py).


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(find: Callable[[], T | None], seconds: float, what: str) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError):
        return 0, ""  # Not listening (yet).


def post(url: str, form: dict[str, str]) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
        return response.status, response.read().decode("utf-8")


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def messages(inbox: Path) -> list[EmailMessage]:
    if not (inbox / "new").is_dir():
        return []
    found = []
    for data in mailbox.Maildir(inbox, create=False):
        parsed = message_from_bytes(data.as_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """The files `make demo` reads, copied; pyproject.toml no newer than the installed .venv,
    so that make counts it as up to date and never installs into it from the copy."""
    stamp = VENV / ".installed"
    if shutil.which("make") is None or not stamp.is_file():
        pytest.fail(f"the demo test needs make and an installed {VENV} (run `make install`)")
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    # A pyproject.toml newer than the stamp (a fresh checkout, a new dependency) would make
    # `make demo` reinstall the package from this copy, which holds no code: the shared .venv
    # would lose `newsletter` once the copy is deleted (and the reinstall costs half a minute).
    installed = stamp.stat().st_mtime_ns
    os.utime(copy / "pyproject.toml", ns=(installed, installed))
    for name in ("config", "issues"):
        shutil.copytree(ROOT / name, copy / name)
    return copy


def test_the_commands_the_demo_prints_work_as_printed(demo_copy: Path) -> None:
    web, smtp = free_port(), free_port()
    settings = [f"VENV={VENV}", f"DEMO_PORT={web}", f"DEMO_SMTP_PORT={smtp}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "MAKE"))}
    demo = subprocess.run(
        ["make", "demo", *settings],
        cwd=demo_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    start = lines.index(
        "Start the web app of the demo, with the local SMTP server again (Ctrl+C stops both):"
    )
    printed = lines[start + 1].strip()
    assert printed == "make serve-demo"
    site = f"http://127.0.0.1:{web}"
    assert f"then open {site}/subscribe" in demo.stdout
    assert "build/demo-inbox/new/" in demo.stdout
    inbox = demo_copy / "build" / "demo-inbox"
    sent = messages(inbox)
    assert len(sent) == 12  # The demo's send, one message per sample reader.
    # The demo's own messages link the same local web app, and their links work there.
    unsubscribe = re.search(r"<(http[^>]+)>", str(sent[0]["List-Unsubscribe"]))
    assert unsubscribe and unsubscribe.group(1).startswith(f"{site}/unsubscribe/")
    web_app_works(printed, READER, demo_copy, settings, env, extra=unsubscribe.group(1))

    # The schedule and the service, pasted as printed into a shell in the project folder.
    schedule, service = (line.strip() for line in lines[-2:])
    assert "schedule weekly" in schedule and service == "make run-demo", lines[-4:]
    scheduled = subprocess.run(
        schedule, shell=True, cwd=demo_copy, env=env, capture_output=True, text=True, timeout=60
    )
    assert scheduled.returncode == 0 and "scheduled weekly-mon-0800" in scheduled.stdout, (
        scheduled.stdout + scheduled.stderr
    )
    output = web_app_works(service, "second.reader@example.org", demo_copy, settings, env)
    assert f"web on {site}" in output, output


def web_app_works(
    printed: str, reader: str, cwd: Path, settings: list[str], env: dict[str, str], extra: str = ""
) -> str:
    """Starts `printed` (a make target), subscribes `reader` on its web app, confirms with the
    link the local SMTP server caught, opens `extra` and the archive, stops it with Ctrl+C;
    its output."""
    site = next(f"http://127.0.0.1:{s.split('=')[1]}" for s in settings if "DEMO_PORT" in s)
    smtp = int(next(s.split("=")[1] for s in settings if "DEMO_SMTP_PORT" in s))
    inbox = cwd / "build" / "demo-inbox"
    server = subprocess.Popen(
        [*printed.split(), *settings],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Its own process group: make, the SMTP server and the app.
    )
    try:
        wait_for(lambda: get(f"{site}/healthz")[0] == 200 or None, 120, "the web app")
        status, page = post(
            f"{site}/subscribe", {"email": reader, "csrf": csrf_of(get(f"{site}/subscribe")[1])}
        )
        assert status == 200 and "Check your inbox" in page

        def confirmation() -> EmailMessage | None:
            return next((m for m in messages(inbox) if reader in str(m["To"])), None)

        message = wait_for(confirmation, 60, "the confirmation email in build/demo-inbox/new/")
        body = message.get_body(("plain",))
        assert body is not None
        link = re.search(rf"{re.escape(site)}/confirm/\S+", body.get_content())
        assert link, body.get_content()
        status, page = get(link.group(0))
        assert status == 200
        status, page = post(link.group(0), {"csrf": csrf_of(page)})
        assert status == 200 and "You are subscribed" in page
        if extra:
            assert get(extra)[0] == 200
        assert get(f"{site}/")[0] == 200  # The archive.
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl+C: it stops both servers.
        output = server.communicate(timeout=60)[0].decode("utf-8", "replace")
    assert "Traceback" not in output, output
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", smtp)) != 0, "the SMTP server was left running"
    return output
