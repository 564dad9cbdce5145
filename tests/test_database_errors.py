"""A database that cannot be used: one line naming the URL (password hidden) and the fix.

Every command that opens the database is run through the CLI against each broken database:
damaged, a folder, read-only (file and folder), a folder that does not exist, a PostgreSQL
port nobody listens on, schemes newsletter does not work with, a driver that is not
installed, and a schema written by a newer version.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.config import Project

from .test_delivery import ISSUE, SECRET, make_project

PASSWORD = "s3cret-pw"

# Every command that opens the database, with arguments that get it that far.
COMMANDS = [
    ["send", ISSUE],
    ["send", ISSUE, "--dry-run"],
    ["status", ISSUE],
    ["subscribers", "add", "new@example.org"],
    ["subscribers", "remove", "new@example.org"],
    ["subscribers", "list"],
    ["subscribers", "search", "example"],
    ["subscribers", "show", "new@example.org"],
    ["subscribers", "import", "readers.csv"],
    ["subscribers", "export"],
    ["subscribers", "forget", "new@example.org", "--yes"],
    ["db", "upgrade"],
    ["db", "status"],
    ["schedule", "add", ISSUE, "--at", "2031-12-01 08:00"],
    ["schedule", "weekly", "mon 08:00"],
    ["schedule", "list"],
    ["schedule", "cancel", "weekly-1"],
    ["schedule", "pause", "weekly-1"],
    ["schedule", "resume", "weekly-1"],
    ["archive"],
    ["serve"],
    ["run"],
]
# The commands that write: a read-only database fails them (reading it works).
WRITING = [
    ["send", ISSUE],
    ["subscribers", "add", "new@example.org"],
    ["subscribers", "import", "readers.csv"],
    ["schedule", "weekly", "mon 08:00"],
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    project = make_project(tmp_path, "null:", database="sqlite:///news.db")
    (project.root / "readers.csv").write_text("email\nreader@example.org\n", encoding="utf-8")
    monkeypatch.chdir(project.root)
    yield project
    for path in project.root.rglob("*"):  # Nothing stays immutable for pytest to clean up.
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)


def newsletter(project: Project, url: str, *args: str) -> Result:
    return CliRunner().invoke(
        app,
        ["--config", str(project.source), *args],
        env={"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_DATABASE_URL": url},
    )


def assert_one_line(
    result: Result, shown_url: str, *says: str, command: list[str] | None = None
) -> None:
    """Exit status 1, `error: database URL: ...` and its fix, nothing else, no traceback."""
    assert isinstance(result.exception, SystemExit), (command, result.exception, result.output)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, (command, result.stderr)
    error, fix = lines
    assert error.startswith(f"error: database {shown_url}: "), error
    assert fix.startswith("  fix: ") and len(fix) > 12
    for text in says:
        assert text in result.stderr
    assert "Traceback" not in result.output and PASSWORD not in result.output


def make_read_only(path: Path) -> None:
    """Read-only even for root: the immutable attribute (chmod does not stop root)."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return
    if shutil.which("chattr") is None:
        pytest.skip("chattr is needed to make a file read-only for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this file system has no immutable attribute: {done.stderr.strip()}")


def corrupt(project: Project) -> str:
    (project.root / "news.db").write_bytes(b"this is not a database, " * 200)
    for name in ("news.db-wal", "news.db-shm"):
        (project.root / name).unlink(missing_ok=True)
    return "sqlite:///news.db"


def folder(project: Project) -> str:
    (project.root / "data").mkdir()
    return "sqlite:///data"


def missing_folder(project: Project) -> str:
    return "sqlite:///no-such-folder/news.db"


def read_only_folder(project: Project) -> str:
    (project.root / "data").mkdir()
    shutil.copy(project.root / "news.db", project.root / "data" / "news.db")
    make_read_only(project.root / "data")
    return "sqlite:///data/news.db"


def newer_schema(project: Project) -> str:
    with sqlite3.connect(project.root / "news.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    return "sqlite:///news.db"


def foreign_schema(project: Project) -> str:
    with sqlite3.connect(project.root / "news.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'")
    return "sqlite:///news.db"


def dropped_table(project: Project) -> str:
    connection = sqlite3.connect(project.root / "news.db")
    with connection:
        for table in ("subscriber_tag", "consent_event", "delivery", "subscriber"):
            connection.execute(f"DROP TABLE {table}")
    connection.close()
    return "sqlite:///news.db"


def unreachable_postgres(project: Project) -> str:
    return f"postgresql+psycopg://news:{PASSWORD}@127.0.0.1:{free_port()}/news"


def mysql(project: Project) -> str:
    return f"mysql://news:{PASSWORD}@127.0.0.1/news"


def unknown_scheme(project: Project) -> str:
    return f"foo://news:{PASSWORD}@127.0.0.1/news"


def missing_driver(project: Project) -> str:
    assert importlib.util.find_spec("pg8000") is None, "the test needs a driver that is absent"
    return f"postgresql+pg8000://news:{PASSWORD}@127.0.0.1/news"


# name -> (make the broken database and return its URL, the URL as shown, what the line says)
CASES: dict[str, tuple[Callable[[Project], str], str, tuple[str, ...]]] = {
    "corrupt": (corrupt, "sqlite:///{root}/news.db", ("is not a SQLite database",)),
    "folder": (folder, "sqlite:///{root}/data", ("is a folder, not a database file",)),
    "missing-folder": (
        missing_folder,
        "sqlite:///{root}/no-such-folder/news.db",
        ("the folder", "does not exist", "create the folder"),
    ),
    "read-only-folder": (
        read_only_folder,
        "sqlite:///{root}/data/news.db",
        ("cannot open news.db", "writable"),
    ),
    "newer-schema": (
        newer_schema,
        "sqlite:///{root}/news.db",
        ("schema 0099 is newer than this version of newsletter knows", "newer version"),
    ),
    "foreign-schema": (
        foreign_schema,
        "sqlite:///{root}/news.db",
        ("schema 'a1b2c3d4e5f6' is not one newsletter knows", "newer version"),
    ),
    "dropped-table": (
        dropped_table,
        "sqlite:///{root}/news.db",
        ("it has no table", "restore it from a backup", "newsletter db upgrade"),
    ),
    "unreachable-postgres": (
        unreachable_postgres,
        "postgresql+psycopg://news:***@127.0.0.1:{port}/news",
        ("cannot connect", "start the database server"),
    ),
    "mysql": (mysql, "mysql://news:***@127.0.0.1/news", ("SQLite and PostgreSQL",)),
    "unknown-scheme": (unknown_scheme, "foo://news:***@127.0.0.1/news", ("'foo' is not",)),
    "missing-driver": (
        missing_driver,
        "postgresql+pg8000://news:***@127.0.0.1/news",
        ("the Python package pg8000, is not installed", "pip install"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_command_says_what_is_wrong_in_one_line(project: Project, case: str) -> None:
    make, shown, says = CASES[case]
    url = make(project)
    expected = shown.format(root=project.root, port=url.rsplit(":", 1)[-1].split("/")[0])

    for command in COMMANDS:
        if case == "missing-folder" and command == ["archive"]:
            continue  # No database file yet: nothing was sent, and looking creates none.
        result = newsletter(project, url, *command)
        assert_one_line(result, expected, *says, command=command)


def test_a_read_only_database_file_fails_every_write_in_one_line(project: Project) -> None:
    make_read_only(project.root / "news.db")
    url = "sqlite:///news.db"

    assert newsletter(project, url, "subscribers", "list").exit_code == 0  # Reading works.
    for command in WRITING:
        result = newsletter(project, url, *command)
        assert_one_line(
            result, f"sqlite:///{project.root}/news.db", "it is read-only", command=command
        )


def test_the_real_process_prints_no_traceback(project: Project) -> None:
    """The same through `python -m newsletter`, as a shell sees it."""
    url = corrupt(project)
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", str(project.source), "status", ISSUE],
        env={**os.environ, "NEWSLETTER_DATABASE_URL": url},
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stderr.startswith(f"error: database sqlite:///{project.root}/news.db: news.db is")
    assert len(done.stderr.strip().splitlines()) == 2
