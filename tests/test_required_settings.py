"""name, base_url and sender_address: a real send, a schedule, serve and run refuse placeholders."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import REQUIRED_SETTINGS, Project, load_project

from .conftest import SmtpServer
from .test_delivery import ISSUE, SECRET, make_project

PLACEHOLDERS = {
    "name": "Newsletter",
    "base_url": "http://localhost:8000",
    "sender_address": "newsletter@example.org",
}
# The required keys left out of the file: each alone, and all of them (an empty file).
MISSING = [(key,) for key in REQUIRED_SETTINGS] + [REQUIRED_SETTINGS]


def without(project: Project, keys: tuple[str, ...]) -> Project:
    """The project with `keys` deleted from its configuration file."""
    assert project.source is not None
    kept = [
        line
        for line in project.source.read_text(encoding="utf-8").splitlines()
        if line.split("=", 1)[0].strip() not in keys
    ]
    project.source.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return load_project(project.source, {"NEWSLETTER_SECRET_KEY": SECRET})


def run(project: Project, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        ["--config", str(project.source), *args],
        env={"NEWSLETTER_SECRET_KEY": SECRET, **(env or {})},
    )
    return result.exit_code, result.stdout, result.stderr


def assert_refused(stderr: str, keys: tuple[str, ...], what: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in stderr, stderr
    error, fix = lines
    listed = ", ".join(keys)
    assert re.match(rf"error: .*config/newsletter\.toml: {listed} (is|are) not set; {what}", error)
    for key in keys:
        assert PLACEHOLDERS[key] in error
        assert f"NEWSLETTER_{key.upper()}" in fix
    assert fix.startswith("  fix: add ") and "newsletter.toml" in fix


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return make_project(tmp_path, f"{smtp_server.url}?connections=1")


@pytest.mark.parametrize("keys", MISSING, ids="-".join)
def test_a_real_send_refuses_placeholders_and_mails_nobody(
    project: Project, smtp_server: SmtpServer, keys: tuple[str, ...]
) -> None:
    project = without(project, keys)

    code, _, stderr = run(project, "send", ISSUE)

    assert code == 1
    assert_refused(stderr, keys, "a real send needs")
    assert smtp_server.received == []


@pytest.mark.parametrize("keys", MISSING, ids="-".join)
def test_a_schedule_refuses_placeholders(project: Project, keys: tuple[str, ...]) -> None:
    project = without(project, keys)

    weekly = run(project, "schedule", "weekly", "mon 08:00")
    once = run(project, "schedule", "add", ISSUE, "--at", "2031-12-01 08:00")

    for code, _, stderr in (weekly, once):
        assert code == 1
        assert_refused(stderr, keys, "a schedule needs")
    assert "no schedules" in run(project, "schedule", "list")[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "run"])
def test_serve_and_run_refuse_to_start_with_placeholders(project: Project, command: str) -> None:
    project = without(project, ("base_url",))

    # A real process: with the placeholders accepted, it would serve until the timeout.
    config = ["--config", str(project.source)]
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", *config, command, "--port", str(free_port())],
        env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert_refused(done.stderr, ("base_url",), f"newsletter {command} needs")


def test_the_environment_sets_them_as_well_as_the_file(
    project: Project, smtp_server: SmtpServer
) -> None:
    project = without(project, REQUIRED_SETTINGS)
    env = {
        "NEWSLETTER_NAME": "Env Weekly",
        "NEWSLETTER_BASE_URL": "https://env.example.org",
        "NEWSLETTER_SENDER_ADDRESS": "env@env.example.org",
    }

    code, stdout, stderr = run(project, "send", ISSUE, env=env)

    assert code == 0, stdout + stderr
    assert stderr == ""
    message = smtp_server.received[0].message
    assert str(message["From"]) == "Env Weekly <env@env.example.org>"
    assert "https://env.example.org/unsubscribe/" in message["List-Unsubscribe"]


@pytest.mark.parametrize("command", [["build", ISSUE, "--out", "out"], ["check", ISSUE], ["list"]])
def test_build_check_and_list_work_with_a_warning(
    project: Project, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    project = without(project, REQUIRED_SETTINGS)

    code, stdout, stderr = run(project, *command)

    assert code == 0, stdout + stderr
    warning, fix = stderr.strip().splitlines()
    assert warning.startswith(
        "warning: config/newsletter.toml: name, base_url, sender_address are not set; "
        "using placeholders (name = Newsletter, base_url = http://localhost:8000, "
        "sender_address = newsletter@example.org)"
    )
    assert fix.startswith("  fix: add name = ")


def test_with_the_settings_in_the_file_nothing_is_said(project: Project) -> None:
    code, _, stderr = run(project, "check", ISSUE)

    assert (code, stderr) == (0, "")
    assert project.unset_required == []


@pytest.mark.parametrize("where", ["file", "environment"])
@pytest.mark.parametrize("blank", ["", "   ", "\t \u3000"])
def test_a_name_of_only_spaces_counts_as_not_set(
    project: Project, smtp_server: SmtpServer, where: str, blank: str
) -> None:
    env = {}
    if where == "file":
        assert project.source is not None
        text = project.source.read_text(encoding="utf-8")
        project.source.write_text(
            re.sub(r"(?m)^name = .*$", f'name = "{blank}"', text), encoding="utf-8"
        )
    else:
        env["NEWSLETTER_NAME"] = blank
    for command, what in (
        (["send", ISSUE], "a real send needs"),
        (["serve"], "newsletter serve needs"),
    ):
        code, _, stderr = run(project, *command, env=env)
        assert code == 1
        assert_refused(stderr, ("name",), what)
    assert smtp_server.received == []
