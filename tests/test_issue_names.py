"""Every way of naming an issue names the same issue: a sent issue is never sent again because
it was called `issues/X/issue.md` or `./issues/X/` the second time; and a name that is no
issue (`.`, `''`, `/etc`, `/etc/passwd`) is refused in one line with nothing sent."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from newsletter.config import Project
from newsletter.content.source import discover_issue_paths

from .conftest import SmtpServer
from .test_delivery import ISSUE, READERS, make_project, newsletter
from .test_send_commands import mailings


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Project:
    made = make_project(tmp_path, f"{smtp_server.url}?connections=1")
    monkeypatch.chdir(made.root)  # Where a user types the commands.
    return made


def other_names(root: Path) -> list[str]:
    return [
        f"issues/{ISSUE}/issue.md",
        f"issues/{ISSUE}/issue.zh.md",
        f"issues/{ISSUE}/",
        f"./issues/{ISSUE}",
        f"issues/../issues/{ISSUE}",
        str(root / "issues" / ISSUE),
        str(root / "issues" / ISSUE / "issue.md"),
        f"{ISSUE}/issue.md",
        f"{ISSUE}/",
        ISSUE.upper(),
        "issues/alias",  # A symbolic link to the issue's folder, beside it.
    ]


def test_a_sent_issue_named_any_other_way_is_the_same_issue_and_is_not_sent_again(
    project: Project, smtp_server: SmtpServer
) -> None:
    (project.issues_path / "alias").symlink_to(ISSUE, target_is_directory=True)
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    assert len(smtp_server.received) == len(READERS)
    for name in other_names(project.root):
        code, output = newsletter(project, "send", name)
        assert code == 0, (name, output)
        assert f"0 recipients added to the send of {ISSUE}" in output, (name, output)
        assert len(smtp_server.received) == len(READERS), name
        assert mailings(project) == [ISSUE], name
        code, output = newsletter(project, "status", name)
        assert code == 0 and f"send of {ISSUE}" in output, (name, output)


def test_an_issue_scheduled_under_another_name_is_scheduled_under_its_slug(
    project: Project,
) -> None:
    name = f"issues/{ISSUE}/issue.zh.md"
    code, output = newsletter(project, "schedule", "add", name, "--at", "2031-12-01 08:00")
    assert code == 0, output
    assert f"send-{ISSUE}" in newsletter(project, "schedule", "list")[1]


def test_a_symbolic_link_beside_an_issue_is_not_listed_as_another_issue(project: Project) -> None:
    (project.issues_path / "alias").symlink_to(ISSUE, target_is_directory=True)
    assert [p.name for p in discover_issue_paths(project.issues_path, ["en", "zh"])] == [ISSUE]


def test_a_single_file_issue_named_by_its_translation_is_the_original(project: Project) -> None:
    shutil.rmtree(project.issues_path / ISSUE)
    (project.issues_path / "2024-04-02-one.md").write_text(
        "---\ntitle: One\nstatus: ready\n---\n\nLead.\n\n## News\n\n### A story\n\nText.\n",
        encoding="utf-8",
    )
    (project.issues_path / "2024-04-02-one.zh.md").write_text(
        "---\ntitle: 一\n---\n\n导读。\n\n## 新闻\n\n### 故事\n\n正文。\n", encoding="utf-8"
    )
    assert newsletter(project, "send", "2024-04-02-one")[0] == 0
    for name in ("issues/2024-04-02-one.zh.md", "issues/2024-04-02-one", "2024-04-02-one.md"):
        code, output = newsletter(project, "send", name)
        assert code == 0 and "0 recipients added to the send of 2024-04-02-one" in output, output
    assert mailings(project) == ["2024-04-02-one"]


NOT_ISSUES = [".", "", "/etc", "/etc/passwd", "issues", "config", "config/newsletter.toml"]


@pytest.mark.parametrize("command", ["send", "status", "schedule add"])
@pytest.mark.parametrize("name", NOT_ISSUES)
def test_a_name_that_is_no_issue_is_refused_in_one_line(
    project: Project, smtp_server: SmtpServer, command: str, name: str
) -> None:
    extra = ["--at", "2031-12-01 08:00"] if command == "schedule add" else []
    code, output = newsletter(project, *command.split(), name, *extra)
    assert code == 1
    assert re.fullmatch(
        rf"error: no issue named {re.escape(repr(name))}[^\n]*\n  fix: [^\n]*`newsletter list`[^\n]*\n",
        output,
    ), output
    assert smtp_server.received == [] and mailings(project) == []


def test_a_story_file_named_as_an_issue_is_refused_and_says_which_issue_it_belongs_to(
    project: Project, smtp_server: SmtpServer
) -> None:
    story = next((project.issues_path / ISSUE / "stories").glob("01-*.md"))
    code, output = newsletter(project, "send", str(story.relative_to(project.root)))
    assert code == 1
    assert f"is a story of issue {ISSUE}" in output
    assert smtp_server.received == [] and mailings(project) == []
