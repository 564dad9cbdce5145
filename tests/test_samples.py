"""The sample issues in issues/ and the commands `make demo` runs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_project
from newsletter.content.loader import IssueLoader

from .conftest import ROOT


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)


def test_sample_issues_load_with_their_translations(in_repo: None) -> None:
    project = load_project()
    issues = {
        issue.slug: issue for issue in IssueLoader(project.config).load_all(project.issues_path)
    }
    assert sorted(issues) == [
        "2024-03-10-ai-revolution-accelerates",
        "2024-03-27-ai-deca-show",
        "2024-05-07-this-month-in-ai",
    ]
    english = issues["2024-03-10-ai-revolution-accelerates"]
    assert english.locales == ["en", "zh"]
    chinese = english.editions["zh"]
    assert chinese.title and "AI" in chinese.title and chinese.title != english.main.title
    assert [s.fallback for s in chinese.stories] == [False] * 6
    assert [s.slug for s in chinese.stories] == [s.slug for s in english.main.stories]
    assert chinese.date == english.main.date
    weekly = issues["2024-03-27-ai-deca-show"]
    assert weekly.locales == ["zh", "en"]
    assert [s.title for s in weekly.editions["en"].named_sections] == [
        "Top News",
        "Tools",
        "Business",
        "Research",
        "Concerns",
        "Fun Stuff",
    ]
    assert weekly.editions["en"].lead.startswith("Digest:")
    assert all(story.fallback for story in weekly.editions["en"].stories)
    monthly = issues["2024-05-07-this-month-in-ai"]
    assert monthly.locales == ["en", "ar"]
    assert [story.fallback for story in monthly.editions["ar"].stories] == [False] * 9


def test_check_passes_on_the_samples_and_warns_about_missing_story_translations(
    in_repo: None,
) -> None:
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "3 issues checked: 0 errors, 13 warnings" in result.output
    # The Chinese weekly's English edition has none of its stories translated: not sent.
    assert (
        "the en edition is not sent or published: 0 of 29 stories translated (0%, minimum "
        "100%); en readers get the zh edition" in result.output
    )
    # The Chinese weekly's images carry their file names as alt text: real findings too.
    alt = [line for line in result.output.splitlines() if "alt text" in line]
    assert len(alt) == 9 and all("ai-deca-show/" in line for line in alt)
    assert (
        "stories/01-mm1-duo-mo-tai-da-yu-yan-mo-xing-yu-xun-lian-de.md:6: image "
        "'https://img2.imgtp.com/2024/03/27/4hLUr1Cb.jpeg' has a file name as alt text "
        "('topnews1.jpeg')"
    ) in result.output
    # The seeds' long titles and description are real findings about that content.
    assert (
        "2024-03-10-ai-revolution-accelerates/issue.md:2: en: subject is 87 characters"
        in result.output
    )
    assert "accelerates/issue.md:7: en: preheader is 259 characters" in result.output
    strict = CliRunner().invoke(app, ["check", "--strict"])
    assert strict.exit_code == 1


def test_list_prints_a_row_per_issue_and_locale(in_repo: None) -> None:
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == 6
    assert "811 words" in result.output
    assert "characters" in result.output
    assert "29 (29 fallback)" in result.output
    assert "│ no: zh " in result.output  # Its readers get the Chinese original.
