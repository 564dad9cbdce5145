"""`newsletter db copy URL`: an installation on SQLite, with a real send, a schedule, a user and
an API key, moved to PostgreSQL: every row of every table arrives as it was, the ids go on
after the copied ones, and a database that holds data is refused, untouched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from newsletter.config import Project, load_project
from newsletter.db import create_db_engine, database_url

from .conftest import SmtpServer
from .test_delivery import ISSUE, READERS, SECRET, add_reader, make_project, newsletter
from .test_postgres import cluster, database  # noqa: F401 - the throwaway cluster


def rows_of(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows as Python values, in primary-key order."""
    found = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            ordered = select(table).order_by(*table.primary_key.columns)
            found[table.name] = [tuple(row) for row in connection.execute(ordered)]
    return found


def on(project: Project, url: str) -> Project:
    """The same project with its database at `url`."""
    source = project.source.read_text("utf-8")
    project.source.write_text(
        re.sub(r'(?m)^database_url = ".*"$', f'database_url = "{url}"', source), "utf-8"
    )
    return load_project(project.source, {"NEWSLETTER_SECRET_KEY": SECRET})


def test_an_installation_moves_from_sqlite_to_postgresql_whole(
    tmp_path: Path, smtp_server: SmtpServer, request: pytest.FixtureRequest
) -> None:
    target: str = request.getfixturevalue("database")  # A new database in the cluster.
    project = make_project(tmp_path, f"{smtp_server.url}?connections=1")
    assert newsletter(project, "send", ISSUE)[0] == 0
    assert newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", "Europe/Berlin")[0] == 0
    assert newsletter(project, "api-key", "create", "site", "--scope", "subscribers:read")[0] == 0
    sqlite = create_db_engine(database_url(project))
    before = rows_of(sqlite)
    assert all(before[name] for name in ("subscriber", "delivery", "apscheduler_jobs", "api_key"))

    code, output = newsletter(project, "db", "copy", target)
    assert code == 0, output
    total = sum(len(rows) for rows in before.values())
    assert f"copied {total:,} rows of {len(before)} tables" in output
    assert f"{'delivery':20} {len(READERS):>10,}" in output

    postgresql = create_db_engine(target)
    assert rows_of(postgresql) == before  # Every value, dates and JSON included.

    # The project on PostgreSQL: new rows get the ids after the copied ones.
    moved = on(project, target)
    add_reader(moved, "grace@example.org", "Grace Hopper")
    with postgresql.connect() as connection:
        table = SQLModel.metadata.tables["subscriber"]
        ids = connection.execute(select(table.c.id).order_by(table.c.id)).scalars().all()
    assert ids == [*(row[0] for row in before["subscriber"]), len(READERS) + 1]
    code, output = newsletter(moved, "status", ISSUE)
    # Read from PostgreSQL: the send, all of it sent.
    assert code == 0 and re.search(rf"│ all +│ 0 +│ 0 +│ {len(READERS)} +│", output), output

    # Copying again into the database that now holds data: refused in one line, nothing changed.
    code, output = newsletter(
        on(project, f"sqlite:///{tmp_path / 'news.db'}"), "db", "copy", target
    )
    assert code == 1 and "already has data (in " in output and "Traceback" not in output
    assert len(output.strip().splitlines()) <= 2, output
    with postgresql.connect() as connection:
        subscribers = SQLModel.metadata.tables["subscriber"]
        count = connection.execute(select(func.count()).select_from(subscribers)).scalar_one()
    assert count == len(READERS) + 1
    sqlite.dispose()
    postgresql.dispose()


@pytest.mark.parametrize(
    "target",
    ["mysql://nobody@localhost/x", "postgresql+psycopg://nobody@/x?host=/nonexistent-socket"],
)
def test_a_target_that_cannot_be_used_is_one_line(tmp_path: Path, target: str) -> None:
    project = make_project(tmp_path, "null:")
    code, output = newsletter(project, "db", "copy", target)
    assert code == 1 and "Traceback" not in output, output
    assert len(output.strip().splitlines()) <= 2 and "nobody" in output, output
