"""The three real seed issues, loaded as-is in single-file mode (issue #2's must-show list)."""

from __future__ import annotations

import re
import shutil
import unicodedata
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.content.loader import IssueLoader

from .conftest import SEED_EN, SEED_HUGO, SEED_ZH


def test_english_weekly_metadata_lead_and_six_stories(loader: IssueLoader) -> None:
    issue = loader.load(SEED_EN)
    edition = issue.main
    assert issue.locales == ["en"]
    assert (
        edition.title
        == "The AI Revolution Accelerates: A Week of Groundbreaking Innovations in Machine Learning"
    )
    assert edition.subtitle is not None and edition.subtitle.startswith(
        "From Text-to-Video Breakthroughs"
    )
    assert edition.authors == ["David Jenkins"]
    assert edition.date is not None and edition.date.date() == date(2024, 3, 10)
    assert edition.date.tzinfo is not None
    assert edition.image == "https://magick.ai/generated/ai-revolution-header.jpg"
    assert edition.cta is not None and edition.cta.text.startswith(
        "Stay at the forefront of AI innovation!"
    )
    # The description becomes the preheader, with the seed's `\'` read as an apostrophe.
    assert edition.preheader is not None and "OpenAI's Sora" in edition.preheader
    assert edition.lead.startswith(
        "The first week of March 2024 has proven to be a watershed moment"
    )
    assert "\n" not in edition.lead.strip()
    assert [story.title for story in edition.stories] == [
        "The Dawn of New Video Generation Capabilities",
        "The Claude 3 Revolution",
        "Democratizing AI Development",
        "The Rise of Practical Robotics",
        "Personal AI Gets Smarter",
        "Looking Ahead",
    ]
    assert edition.named_sections == []
    # Custom keys are kept for templates.
    assert edition.extra["read_time"] == "8 mins"
    # The last story keeps all four of its paragraphs; the image stays in the first.
    assert edition.stories[-1].body.count("\n\n") == 3
    assert "1738406181100_magick_img.webp" in edition.stories[0].body


def test_english_weekly_reports_the_invalid_yaml_escape_as_a_warning(loader: IssueLoader) -> None:
    notes = loader.load(SEED_EN).main.notes
    assert [(note.severity, note.line) for note in notes] == [("warning", 4)]
    assert "''" in (notes[0].hint or "")


def test_chinese_weekly_sections_stories_lead_and_footer(loader: IssueLoader) -> None:
    edition = loader.load(SEED_ZH).main
    assert edition.locale == "zh"
    assert [section.title for section in edition.named_sections] == [
        "热点新闻",
        "工具篇",
        "商业篇",
        "科研篇",
        "重点关注",
        "趣事",
    ]
    counts = [len(section.stories) for section in edition.named_sections]
    assert counts == [4, 7, 8, 4, 5, 1]
    top = edition.named_sections[0].stories
    assert top[0].title == "MM1: 多模态大语言模型预训练的方法、分析和见解"
    assert all(story.url is None for story in top)
    links = [story for section in edition.named_sections[1:] for story in section.stories]
    assert len(links) == 25
    for story in links:
        assert story.url is not None and story.url.startswith("https://")
        assert story.url in story.body
        assert story.title and _cells(story.title) <= 80
        assert not story.body.startswith("*")
    assert links[0].title == "英伟达在其GTC开发者大会上推出了GR00T"
    assert links[0].url == "https://spectrum.ieee.org/nvidia-gr00t-ros"
    # Section images stay with their section.
    assert (
        edition.named_sections[1].intro
        == "![tools.jpeg](https://img2.imgtp.com/2024/03/27/Pdhr2YDM.jpeg)"
    )
    assert edition.lead.startswith("导读：苹果分享了其多模态模型的详情")
    assert not edition.lead.startswith(">")
    assert edition.footer == "Copyright © 2024 AI DECA SHOW, All rights reserved."
    assert edition.title is None
    assert [(n.severity, n.code) for n in edition.notes] == [("error", "missing-title")]


def test_check_reports_exactly_the_missing_title_with_its_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--config", str(_empty_config(tmp_path)), "check", str(SEED_ZH)]
    )
    assert result.exit_code == 1
    # The report is on stdout (stderr warns that the empty configuration has placeholders).
    # Its images' alt texts are file names (topnews1.jpeg): warnings of their own.
    problems = [
        line
        for line in result.stdout.splitlines()
        if line.startswith(("error", "warning")) and "as alt text" not in line
    ]
    assert problems == [f"error: {SEED_ZH}:1: issue has no title"] or (
        len(problems) == 1
        and problems[0].endswith("001_c00ac035439ed75e.txt:1: issue has no title")
    )
    assert (
        "fix: add `title: ...` to the front matter (or pass --title to newsletter import)"
        in result.output
    )


def test_import_title_supplies_the_missing_title(tmp_path: Path, loader: IssueLoader) -> None:
    into = tmp_path / "issues"
    result = CliRunner().invoke(
        app,
        [
            "--config",
            str(_empty_config(tmp_path)),
            "import",
            str(SEED_ZH),
            "--into",
            str(into),
            "--title",
            "AI 周报",
            "--date",
            "2024-03-27",
        ],
    )
    assert result.exit_code == 0, result.output
    (folder,) = into.iterdir()
    assert folder.name == "2024-03-27-ai-zhou-bao"
    issue = loader.load(folder)
    assert issue.main.title == "AI 周报"
    assert issue.main.notes == []
    assert len(issue.main.stories) == 29


def test_hugo_monthly_authors_tags_stories_and_footnotes(loader: IssueLoader) -> None:
    edition = loader.load(SEED_HUGO).main
    assert edition.authors == ["Arya", "Saurabha", "Vrushali"]
    assert edition.tags == ["Month in AI", "Blog"]
    assert edition.slug == "tmai-April-2024"
    assert edition.extra["aliases"] == ["blog-April-2024"]
    assert len(edition.stories) == 9
    # The nine trailing footnotes are one source per story: each is cited and its link kept.
    for number, story in enumerate(edition.stories, start=1):
        assert f"[^{number}]" in story.body.split("\n\n")[0]
        assert re.search(rf"^\[\^{number}\]:", story.body, re.MULTILINE)
        assert story.url is not None and story.url.startswith("https://")
    assert (
        edition.stories[3].url
        == "https://www.databricks.com/blog/introducing-dbrx-new-state-art-open-llm"
    )
    assert edition.closing == ""
    # Relative images stay relative to the file they are written in.
    assert edition.image == "Poster.png"
    assert "![](stargate.png)" in edition.stories[0].body
    assert all(story.source == SEED_HUGO for story in edition.stories)


def test_relative_images_resolve_against_the_seed_file(tmp_path: Path, loader: IssueLoader) -> None:
    copy = tmp_path / SEED_HUGO.name
    shutil.copy(SEED_HUGO, copy)
    runner = CliRunner()
    config = _empty_config(tmp_path)
    missing = runner.invoke(app, ["--config", str(config), "check", str(copy)])
    assert missing.exit_code == 1
    assert "image 'stargate.png' does not resolve" in missing.output
    assert f"{copy.name}:20:" in missing.output
    for name in (
        "Poster.png",
        "stargate.png",
        "open_ai.png",
        "ai21.png",
        "databricks.png",
        "amazon.png",
        "ai_sora.jpg",
        "tesla.png",
    ):
        (tmp_path / name).write_bytes(b"\x89PNG\r\n")
    assert runner.invoke(app, ["--config", str(config), "check", str(copy)]).exit_code == 0


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "newsletter.toml"
    path.write_text('locales = ["en", "zh"]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    return path


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
