"""Sequences on PostgreSQL, two passes at once, a member's own data, and what check and the
preview say of steps."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.sequences.models import SEQUENCE_DELIVERY, SEQUENCE_MEMBER
from newsletter.sequences.queue import queue_due_steps
from newsletter.subscribers.models import SUBSCRIBER
from newsletter.web.preview import create_app

from .conftest import ROOT
from .sequence_files import write_sequence
from .test_delivery import add_reader, make_project, newsletter
from .test_postgres import cluster, database  # noqa: F401 - the throwaway cluster
from .test_sequences import DAY, queued


def test_on_postgresql_steps_are_queued_once_each_even_by_two_passes_at_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("database")
    project = make_project(tmp_path, "smtp://127.0.0.1:9", database=url, readers=[])
    write_sequence(project.root)
    engine = create_db_engine(database_url(project))
    queue_due_steps(project, engine, utcnow())
    for number in range(40):
        add_reader(project, f"reader{number}@example.org", "", ("en", "de")[number % 2])
    later = utcnow() + 3 * DAY + DAY / 24

    def one_pass() -> None:
        queue_due_steps(project, engine, later)

    passes = [threading.Thread(target=one_pass) for _ in range(3)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    queue_due_steps(project, engine, later)
    counted = Counter((email, step) for email, step, _ in queued(engine))
    assert len(counted) == 80 and set(counted.values()) == {1}
    assert {locale for email, _, locale in queued(engine) if email == "reader1@example.org"} == {
        "de"
    }
    code, output = newsletter(project, "sequence", "status", "--json")
    assert code == 0, output
    steps = json.loads(output)["sequences"][0]["steps"]
    assert [step["states"] for step in steps] == [{"queued": 40}, {"queued": 40}]
    engine.dispose()


def test_a_member_sees_their_sequences_and_forgetting_them_deletes_the_records(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path, "smtp://127.0.0.1:9", readers=[])
    write_sequence(project.root)
    engine = create_db_engine(database_url(project))
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "de")
    queue_due_steps(project, engine, utcnow())
    code, output = newsletter(project, "subscribers", "show", "ana@example.org", "--json")
    assert code == 0, output
    [joined] = json.loads(output)["sequences"]
    assert (joined["sequence"], joined["how"], joined["left_at"]) == ("welcome", "confirmed", None)
    assert [(s["step"], s["state"]) for s in joined["steps"]] == [("01-welcome", "queued")]
    code, output = newsletter(project, "subscribers", "show", "ana@example.org")
    assert "sequence welcome: entered" in output and "01-welcome  queued" in output, output
    assert newsletter(project, "subscribers", "forget", "ana@example.org", "--yes")[0] == 0
    with engine.connect() as connection:
        for table in (SEQUENCE_MEMBER, SEQUENCE_DELIVERY):
            assert connection.execute(select(table)).all() == []
        anonymous = connection.execute(select(DELIVERY.c.subscriber_id)).scalars().all()
    assert anonymous == [None]  # The outbox keeps an anonymous row, as for issues.
    queue_due_steps(project, engine, utcnow() + 4 * DAY)
    with engine.connect() as connection:
        assert connection.execute(select(SUBSCRIBER)).all() == []
        assert len(connection.execute(select(MAILING)).all()) == 1  # Nothing more queued.


def test_check_reports_a_file_beside_a_step_that_would_have_no_address(tmp_path: Path) -> None:
    project: Project = make_project(tmp_path, "smtp://127.0.0.1:9", readers=[])
    folder = write_sequence(project.root)
    shutil.copy(
        ROOT / "issues" / "2024-05-07-this-month-in-ai" / "images" / "tesla.png",
        folder / "hello.png",
    )
    (folder / "01-welcome.md").write_text(
        "---\ntitle: Welcome aboard\nafter: 0 days\n---\n![Our team](hello.png)\n",
        encoding="utf-8",
    )
    code, output = newsletter(project, "check")
    flat = " ".join(output.split())
    assert code == 1 and "01-welcome.md: en: links hello.png, a file beside the step" in flat, (
        output
    )
    assert "link its absolute URL" in flat


def test_the_preview_lists_and_renders_the_steps(tmp_path: Path) -> None:
    project: Project = make_project(tmp_path, "smtp://127.0.0.1:9", readers=[])
    write_sequence(project.root)
    client = TestClient(create_app(project, "http://127.0.0.1:8000"))
    index = client.get("/").text
    assert 'href="/sequence-welcome-01-welcome/de/"' in index, index
    email = client.get("/sequence-welcome-02-how-we-work/de/email.html")
    assert email.status_code == 200 and "Wir schreiben jede Woche." in email.text
    assert "View in browser" not in email.text and "Im Browser" not in email.text


def test_a_steps_clicks_are_reported_and_steps_are_not_ranked_among_the_sends(
    tmp_path: Path,
) -> None:
    project: Project = make_project(tmp_path, "smtp://127.0.0.1:9", readers=[])
    write_sequence(
        project.root,
        {
            "01-welcome.md": "---\ntitle: Welcome\nafter: 0 days\n---\nRead [our guide](https://example.com/guide).\n"
        },
    )
    engine = create_db_engine(database_url(project))
    queue_due_steps(project, engine, utcnow())
    add_reader(project, "ana@example.org", "Ana", "en")
    queue_due_steps(project, engine, utcnow())
    code, output = newsletter(project, "report", "sequence:welcome/01-welcome", "--json")
    assert code == 0, output
    links = [link["url"] for link in json.loads(output)["links"]]
    assert "https://example.com/guide" in links
    code, output = newsletter(project, "report", "--last", "5", "--json")
    assert code == 0 and "sequence:" not in output, output
