"""The dashboard's issues, schedules and audit log pages: what each role sees and may do."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.access.audit import recent
from newsletter.access.users import Role, add_user
from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_admin import BASE, PASSWORD, Clock, copy_of, form_token, log_in
from .test_delivery import ISSUE, make_project, newsletter


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three users and a weekly schedule, made once (argon2 is slow on purpose)."""
    root = tmp_path_factory.mktemp("pages")
    made = make_project(root, "null:", readers=[])
    engine = create_db_engine(database_url(made))
    for name, role in (("ana", Role.ADMIN), ("eve", Role.EDITOR), ("vic", Role.VIEWER)):
        add_user(engine, name, role, PASSWORD, Clock()())
    engine.dispose()
    assert newsletter(made, "schedule", "weekly", "mon 08:00", "--tz", "UTC")[0] == 0
    return root


@pytest.fixture
def project(tmp_path: Path, template: Path, smtp_server: SmtpServer) -> Project:
    return copy_of(template, tmp_path / "project", f"{smtp_server.url}?connections=1")


@pytest.fixture
def browser(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project), base_url=BASE) as made:
        yield made


def actions(project: Project) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in recent(create_db_engine(database_url(project)))]


def test_a_viewer_sees_schedules_and_issues_but_changes_nothing(
    browser: TestClient, project: Project
) -> None:
    assert log_in(browser, "vic") == 303
    page = browser.get("/admin/schedules")
    assert (
        page.status_code == 200
        and "weekly-mon-0800" in page.text
        and "<form" not in page.text.split("<main", 1)[1].split("</main>")[0]
    )
    issues = browser.get("/admin/issues")
    assert issues.status_code == 200 and ISSUE in issues.text
    token = form_token(browser, "/admin/schedules")
    refused = browser.post(
        "/admin/schedules/weekly-mon-0800/pause", data={"csrf": token}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert "paused" not in browser.get("/admin/schedules").text.split("<main", 1)[1]
    assert browser.get("/admin/audit").status_code == 403  # The audit log is an admin's.
    assert [a for _, a, _ in actions(project)] == ["login"]


def test_an_editor_pauses_and_resumes_a_schedule_and_the_log_says_so(
    browser: TestClient, project: Project
) -> None:
    assert log_in(browser, "eve") == 303
    token = form_token(browser, "/admin/schedules")
    paused = browser.post("/admin/schedules/weekly-mon-0800/pause", data={"csrf": token})
    assert paused.status_code == 200 and "Resume" in paused.text  # Back on the list.
    assert "paused" in newsletter(project, "schedule", "list")[1]
    browser.post("/admin/schedules/weekly-mon-0800/resume", data={"csrf": token})
    assert "next: " in newsletter(project, "schedule", "list")[1]
    forged = browser.post("/admin/schedules/weekly-mon-0800/cancel", data={"csrf": "x" * 64})
    assert (
        forged.status_code == 403
        and "weekly-mon-0800" in newsletter(project, "schedule", "list")[1]
    )
    assert ("eve", "schedule.pause", "weekly-mon-0800") in actions(project)
    assert ("eve", "schedule.resume", "weekly-mon-0800") in actions(project)


def test_an_editor_test_sends_an_issue_and_it_arrives(
    browser: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    assert log_in(browser, "eve") == 303
    page = browser.get(f"/admin/issues/{ISSUE}")
    assert page.status_code == 200 and "Test send" in page.text
    token = form_token(browser, f"/admin/issues/{ISSUE}")
    sent = browser.post(
        f"/admin/issues/{ISSUE}/test",
        data={"csrf": token, "address": "me@example.org", "locale": "zh"},
    )
    assert sent.status_code == 200 and "sent" in sent.text, sent.text
    [received] = smtp_server.received
    assert received.recipients == ["me@example.org"] and str(
        received.message["Subject"]
    ).startswith("[TEST] ")
    bad = browser.post(
        f"/admin/issues/{ISSUE}/test", data={"csrf": token, "address": "not an address"}
    )
    assert bad.status_code == 422 and "not an address" in bad.text
    assert ("eve", "send.test", ISSUE) in actions(project)


def test_an_admin_reads_the_audit_log(browser: TestClient, project: Project) -> None:
    assert log_in(browser, "ana") == 303
    page = browser.get("/admin/audit")
    assert page.status_code == 200 and "login" in page.text and "ana" in page.text


def test_the_overview_shows_each_sends_sent_and_failed_deliveries(
    browser: TestClient, project: Project
) -> None:
    from .test_delivery import add_reader

    for email in ("ada@example.org", "bob@example.org"):
        add_reader(project, email, "", "en")
    assert newsletter(project, "send", ISSUE)[0] == 0
    assert log_in(browser, "vic") == 303
    page = browser.get("/admin/").text
    row = next(line for line in page.splitlines() if f">{ISSUE}</a>" in line)
    cells = [cell.split("</td>")[0] for cell in row.split("<td")[1:]]
    assert [cell.split(">", 1)[1] for cell in cells[2:]] == ["2", "0", "2"]  # Sent, failed, all.
    link = cells[0].split('href="', 1)[1].split('"', 1)[0]  # The issue's cell links its send.
    assert link.startswith("/admin/sends/") and ISSUE in browser.get(link).text


def test_an_issue_page_counts_its_stories_in_the_plural_of_the_browser_s_language(
    browser: TestClient, project: Project
) -> None:
    """One story is "1 Beitrag", six are "6 Beiträge": the language's plural, not a word."""
    one = project.issues_path / "2024-03-11-one-story"
    shutil.copytree(project.issues_path / ISSUE, one)
    for story in sorted((one / "stories").iterdir())[2:]:
        story.unlink()  # The first story's English and Chinese text stay.
    assert log_in(browser, "vic") == 303
    german = {"Accept-Language": "de"}
    assert "(1 Beitrag)" in browser.get(f"/admin/issues/{one.name}", headers=german).text
    assert "(6 Beiträge)" in browser.get(f"/admin/issues/{ISSUE}", headers=german).text
    assert "(1 story)" in browser.get(f"/admin/issues/{one.name}").text
