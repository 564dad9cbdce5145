"""Tracking on PostgreSQL: a send makes its tracking links, clicks are written in a batch, and
`newsletter report` counts them, as on SQLite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import select

from newsletter.db import utcnow
from newsletter.engagement.models import TRACKED_LINK
from newsletter.engagement.store import Click, write_clicks

from .conftest import ROOT
from .test_delivery import make_project, newsletter
from .test_postgres import cluster, database, engine_for  # noqa: F401 - fixtures

ISSUE = "2024-05-07-this-month-in-ai"


def test_a_tracked_send_and_its_report_on_postgresql(tmp_path: Path, database: str) -> None:  # noqa: F811
    project = make_project(tmp_path, "null:", database=database)
    shutil.copytree(ROOT / "issues" / ISSUE, project.issues_path / ISSUE)
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    engine = engine_for(database)
    with engine.connect() as connection:
        links = connection.execute(
            select(TRACKED_LINK.c.id, TRACKED_LINK.c.locale, TRACKED_LINK.c.position)
        ).all()
    first = next(row.id for row in links if row.locale == "en" and row.position == 2)
    honeypot = next(row.id for row in links if row.locale == "en" and row.position == 0)
    now = utcnow()
    write_clicks(
        engine,
        [
            Click(now, "browser", "a" * 16, link_id=first),
            Click(now, "browser", "b" * 16, link_id=first),
            Click(now, "browser", "c" * 16, link_id=honeypot),
            Click(now, "browser", "c" * 16, link_id=first),
        ],
    )
    engine.dispose()
    code, output = newsletter(project, "report", ISSUE, "--json")
    assert code == 0, output
    document = json.loads(output)
    [row] = [row for row in document["links"] if row["all"] and row["position"] == 2]
    assert (row["human"], row["scanner"], row["all"]) == (2, 1, 3)
    assert document["total"]["scanner"] == 2  # The honeypot click and its client's other one.
