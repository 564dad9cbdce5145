"""What `send`, `schedule` and `status` refuse or say: drafts, issues that do not exist, and
sends whose readers wait for their local time."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url, utcnow
from newsletter.deliver.audience import LocalTime
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.schedule.firing import Firer, fire, firings
from newsletter.sends import load_issue, start_send

from .conftest import ROOT, SmtpServer
from .test_delivery import ISSUE, add_reader, make_project, newsletter, parsed
from .test_schedule import the_job

DRAFT_RULE = "only --test and --dry-run send a draft"
DRAFT_FIX = "set `status: ready` in its front matter when it is ready to go out"
DRAFT_ERROR = f"issue {ISSUE} is a draft (status: draft): {DRAFT_RULE}"


def set_status(project: Project, status: str | None) -> Path:
    """The sample issue's `status:` line set to `status` (removed for None); its issue.md."""
    main = project.issues_path / ISSUE / "issue.md"
    text = re.sub(r"(?m)^status: .*\n", "", main.read_text(encoding="utf-8"))
    if status is not None:
        text = text.replace("---\n", f"---\nstatus: {status}\n", 1)
    main.write_text(text, encoding="utf-8")
    return main


def mailings(project: Project) -> list[str]:
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        found = list(connection.execute(select(MAILING.c.issue)).scalars())
    engine.dispose()
    return found


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return make_project(
        tmp_path, f"{smtp_server.url}?connections=1",
        editor_address='"editor@news.example.org"', timezone='"Europe/Berlin"',
    )  # fmt: skip


# -- Drafts --------------------------------------------------------------------------------------


def test_a_draft_is_refused_in_one_line_and_nothing_is_sent_or_queued(
    project: Project, smtp_server: SmtpServer
) -> None:
    set_status(project, "draft")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 1
    assert re.fullmatch(
        rf"error: \S*issues/{ISSUE}/issue\.md:2: {re.escape(DRAFT_ERROR)}\n"
        r"  fix: set `status: ready` in its front matter when it is ready to go out\n",
        output,
    ), output
    assert smtp_server.received == [] and mailings(project) == []


def test_an_issue_without_a_status_is_a_draft(project: Project, smtp_server: SmtpServer) -> None:
    set_status(project, None)
    code, output = newsletter(project, "send", ISSUE)
    assert code == 1
    assert f"issue.md: issue {ISSUE} is a draft (no status, so a draft)" in output
    assert smtp_server.received == [] and mailings(project) == []


def test_a_draft_can_be_tested_and_dry_run(project: Project, smtp_server: SmtpServer) -> None:
    set_status(project, "draft")
    code, output = newsletter(project, "send", ISSUE, "--test", "me@example.org")
    assert code == 0, output
    assert [r.recipients for r in smtp_server.received] == [["me@example.org"]] * 2  # en, zh
    code, output = newsletter(project, "send", ISSUE, "--dry-run")
    assert code == 0, output
    assert f"{DRAFT_ERROR}; {DRAFT_FIX}" in output
    assert mailings(project) == []


def test_scheduling_a_draft_is_refused_and_a_schedule_whose_issue_became_a_draft_fails(
    project: Project, smtp_server: SmtpServer
) -> None:
    set_status(project, "draft")
    code, output = newsletter(project, "schedule", "add", ISSUE, "--at", "2031-12-01 08:00")
    assert code == 1 and DRAFT_ERROR in output and "status: ready" in output
    assert "no schedules" in newsletter(project, "schedule", "list")[1]

    set_status(project, "ready")
    assert newsletter(project, "schedule", "add", ISSUE, "--at", "2031-12-01 08:00")[0] == 0
    set_status(project, "draft")  # Taken back before its time.
    job = the_job(project, f"send-{ISSUE}")
    due = job.next_run_time
    engine = create_db_engine(database_url(project))
    assert fire(Firer(project, engine, clock=lambda: due), job.id, due, **job.kwargs) == "failed"
    assert DRAFT_ERROR in firings(engine)[0].detail
    [notice] = smtp_server.received
    assert notice.recipients == ["editor@news.example.org"]
    assert f"The send of {ISSUE} failed" in str(notice.message["Subject"])
    assert mailings(project) == []


def test_the_weekly_send_leaves_drafts_alone(project: Project, smtp_server: SmtpServer) -> None:
    set_status(project, "draft")
    assert newsletter(project, "schedule", "weekly", "mon 08:00")[0] == 0
    job = the_job(project, "weekly-mon-0800")
    due = job.next_run_time
    engine = create_db_engine(database_url(project))
    fire(Firer(project, engine, clock=lambda: due), job.id, due, **job.kwargs)
    assert firings(engine)[0].state == "no-issue" and mailings(project) == []
    set_status(project, "ready")
    later = due + timedelta(days=7)
    fire(Firer(project, engine, clock=lambda: later), job.id, later, **job.kwargs)
    assert mailings(project) == [ISSUE]


# -- newsletter status ---------------------------------------------------------------------------


def test_status_of_an_issue_that_does_not_exist_says_so(project: Project) -> None:
    code, output = newsletter(project, "status", "NO-SUCH-ISSUE")
    assert code == 1
    assert output == (
        "error: no issue 'NO-SUCH-ISSUE': no such issue in issues/, and no send of it in the "
        "database\n  fix: run `newsletter list` to see the issues\n"
    )


def test_status_of_an_unsent_issue_suggests_a_dry_run_or_a_test_never_a_send(
    project: Project,
) -> None:
    code, output = newsletter(project, "status", ISSUE)
    assert code == 1
    assert f"error: issue {ISSUE} has not been sent yet" in output
    assert f"`newsletter send {ISSUE} --dry-run`" in output and "--test" in output
    assert f"`newsletter send {ISSUE}`" not in output


def test_status_of_a_sent_issue_whose_files_are_gone(project: Project) -> None:
    assert newsletter(project, "send", ISSUE)[0] == 0
    shutil.rmtree(project.issues_path / ISSUE)
    code, output = newsletter(project, "status", ISSUE)
    assert code == 0 and f"send of {ISSUE}" in output


# -- Local time ----------------------------------------------------------------------------------


def test_resuming_a_send_at_local_time_sends_what_is_due_and_says_when_the_rest_is(
    project: Project, smtp_server: SmtpServer
) -> None:
    # 08:00 wall-clock time has come in Tokyo, not yet in London or New York.
    add_reader(project, "yuki@example.jp", "Yuki", "en", "Asia/Tokyo")
    add_reader(project, "sam@example.com", "Sam", "en", "America/New_York")
    add_reader(project, "liz@example.co.uk", "Liz", "en", "Europe/London")
    now = utcnow()
    wall = (now + timedelta(hours=5)).replace(tzinfo=None, second=0, microsecond=0)
    engine = create_db_engine(database_url(project))
    start_send(
        project, engine, load_issue(project, ISSUE), to=None, clock=utcnow,
        local_time=LocalTime(wall, "UTC"),
    )  # fmt: skip
    engine.dispose()
    berlin = ZoneInfo("Europe/Berlin")  # The configured timezone: the operator's.
    due = Counter(
        f"{wall.replace(tzinfo=ZoneInfo(zone)).astimezone(berlin):%a %Y-%m-%d %H:%M %Z}"
        for zone in ["UTC"] * 4 + ["Europe/London", "America/New_York"]  # 4 sample readers: UTC
    )

    code, output = newsletter(project, "send", ISSUE, "--resume")
    assert code == 0, output
    assert "6 deliveries wait for their readers' local time" in output
    for when, count in due.items():
        assert f"  {count} due {when}" in output, output
    assert [r.recipients for r in smtp_server.received] == [["yuki@example.jp"]]
    with create_db_engine(database_url(project)).connect() as connection:
        states = sorted(connection.execute(select(DELIVERY.c.state)).scalars())
    assert states == ["queued"] * 6 + ["sent"]


# -- Drafts, however they are written ----------------------------------------------------------


@pytest.mark.parametrize("line", ["status: Draft", "status: DRAFT", "draft: true"])
def test_a_draft_written_any_way_is_refused_saying_what_its_file_says(
    project: Project, smtp_server: SmtpServer, line: str
) -> None:
    main = set_status(project, None)
    main.write_text(main.read_text(encoding="utf-8").replace("---\n", f"---\n{line}\n", 1), "utf-8")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 1
    assert output.startswith(f"error: {main}:2: issue {ISSUE} is a draft ({line}): {DRAFT_RULE}\n")
    assert output.endswith(f"  fix: {DRAFT_FIX}\n") and output.count("\n") == 2, output
    code, output = newsletter(project, "send", ISSUE, "--dry-run")
    assert code == 0 and f"is a draft ({line}): {DRAFT_RULE}" in output, output
    assert smtp_server.received == [] and mailings(project) == []


def test_a_draft_translation_is_not_offered_and_its_readers_get_the_original(
    project: Project, smtp_server: SmtpServer
) -> None:
    translation = project.issues_path / ISSUE / "issue.zh.md"
    text = translation.read_text(encoding="utf-8")
    translation.write_text(text.replace("---\n", "---\nstatus: draft\n", 1), encoding="utf-8")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    assert "zh: not offered, a draft (issue.zh.md: status: draft): zh readers get en" in output
    languages = {r.recipients[0]: parsed(r.data)["Content-Language"] for r in smtp_server.received}
    assert languages["wei@example.cn"] == "en" and set(languages.values()) == {"en"}


@pytest.mark.parametrize("option", ["--resume", "--only-failed"])
def test_resuming_the_send_of_an_issue_that_became_a_draft_is_refused(
    project: Project, smtp_server: SmtpServer, option: str
) -> None:
    engine = create_db_engine(database_url(project))
    start_send(project, engine, load_issue(project, ISSUE), to=None, clock=utcnow)
    engine.dispose()
    set_status(project, "draft")
    code, output = newsletter(project, "send", ISSUE, option)
    assert code == 1
    assert f"{DRAFT_ERROR}\n  fix: {DRAFT_FIX}\n" in output and output.count("\n") == 2, output
    assert smtp_server.received == []


def test_the_readme_says_what_a_draft_refusal_says() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"is a draft (status: draft): {DRAFT_RULE}\n  fix: {DRAFT_FIX}" in (
        (ROOT / "README.md").read_text(encoding="utf-8")
    )
    assert "`draft: true`" in readme and "`--only-failed`" in readme


# -- What a send renders -------------------------------------------------------------------------


def test_a_send_renders_only_what_it_mails(project: Project, smtp_server: SmtpServer) -> None:
    """The web page is not mailed: a send does not render it (a web template that fails stops
    `build`, never the send)."""
    theme = project.root / "templates" / project.config.theme
    theme.mkdir(parents=True, exist_ok=True)
    (theme / "web.html.j2").write_text("{{ no_such_function() }}\n", encoding="utf-8")
    assert newsletter(project, "build", ISSUE, "--out", str(project.root / "out"))[0] == 1
    add_reader(project, "reader@example.org")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    received = [address for r in smtp_server.received for address in r.recipients]
    assert "reader@example.org" in received and len(received) == len(set(received)) > 1
