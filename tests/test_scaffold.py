"""`newsletter new` and `newsletter story add`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import load_project
from newsletter.content.loader import IssueLoader


def run(project_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--config", str(project_dir / "config" / "newsletter.toml"), *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_new_issue_then_stories_in_sections(project_dir: Path) -> None:
    output = run(project_dir, "new", "AI Weekly #12", "--date", "2024-03-17")
    folder = project_dir / "issues" / "2024-03-17-ai-weekly-12"
    assert "issues/2024-03-17-ai-weekly-12/issue.md" in output or (folder / "issue.md").is_file()
    run(
        project_dir,
        "story",
        "add",
        folder.name,
        "Sora opens up",
        "--url",
        "https://openai.com/sora",
        "--section",
        "News",
    )
    run(
        project_dir,
        "story",
        "add",
        "2024-03-17-ai-weekly-12",
        "A new tool",
        "--url",
        "https://example.org/tool",
        "--section",
        "Tools",
    )
    run(project_dir, "story", "add", str(folder), "Another headline", "--section", "News")
    assert sorted(p.name for p in (folder / "stories").iterdir()) == [
        "01-sora-opens-up.md",
        "02-a-new-tool.md",
        "03-another-headline.md",
    ]
    project = load_project(project_dir / "config" / "newsletter.toml")
    issue = IssueLoader(project.config).load(folder)
    edition = issue.main
    assert edition.title == "AI Weekly #12"
    assert edition.status == "draft"
    assert f"{edition.date:%Y-%m-%d}" == "2024-03-17"
    assert [(s.title, [st.title for st in s.stories]) for s in edition.named_sections] == [
        ("News", ["Sora opens up", "Another headline"]),
        ("Tools", ["A new tool"]),
    ]
    assert edition.stories[0].url == "https://openai.com/sora"
    # The lead and story placeholders are comments, so nothing of them would be published.
    assert edition.lead.startswith("<!--")


def test_story_add_extends_an_explicit_stories_list(project_dir: Path) -> None:
    folder = project_dir / "issues" / "2024-01-01-listed"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        "---\ntitle: Listed\nstories:\n  - 02-second\n  - 01-first\n---\n\nLead.\n",
        encoding="utf-8",
    )
    for name in ("01-first", "02-second"):
        (folder / "stories" / f"{name}.md").write_text(
            f"---\ntitle: {name}\n---\n\nText.\n", encoding="utf-8"
        )
    run(project_dir, "story", "add", folder.name, "Third")
    text = (folder / "issue.md").read_text(encoding="utf-8")
    assert "  - 02-second\n  - 01-first\n  - 03-third\n---" in text
    project = load_project(project_dir / "config" / "newsletter.toml")
    titles = [s.title for s in IssueLoader(project.config).load(folder).main.stories]
    assert titles == ["02-second", "01-first", "Third"]


def test_story_add_refuses_a_single_file_issue(project_dir: Path) -> None:
    (project_dir / "issues" / "single.md").write_text(
        "---\ntitle: One file\n---\n\n## Story\n\nText.\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(project_dir / "config" / "newsletter.toml"),
            "story",
            "add",
            "single",
            "X",
        ],
    )
    assert result.exit_code == 1
    assert "single-file issue" in result.output
    assert "newsletter import" in result.output
    assert not (project_dir / "issues" / "stories").exists()


def test_new_refuses_an_existing_folder(project_dir: Path) -> None:
    run(project_dir, "new", "Same", "--date", "2024-02-02")
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(project_dir / "config" / "newsletter.toml"),
            "new",
            "Same",
            "--date",
            "2024-02-02",
        ],
    )
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert [p.name for p in (project_dir / "issues").iterdir()] == ["2024-02-02-same"]
