"""`newsletter check` warns about content images without alt text or with a file name as alt."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.check.alt_text import alt_problem
from newsletter.cli import app

ISSUE = """\
---
title: Pictures
image: images/cover.png
image_alt: cover.png
---

![](images/a.png)

![topnews1.jpeg](https://img.example.org/4hLUr1Cb.jpeg)

A paragraph on two lines,
then ![IMG_2041](images/a.png) on the second.

![A bar chart: sales doubled in March](images/chart.png) ![Sora](images/sora.png)

<p><img src="images/raw.png"></p>

<img src="images/divider.png" alt="">

Inline <img src="images/inline.png" alt="images/inline.png"> and <img alt=" " src="images/s.png">.
"""
STORY_WITHOUT_ALT = "---\ntitle: One\nimage: ../images/one.png\n---\n\nText.\n"
STORY_WITH_NAME = (
    "---\ntitle: Two\nimage: https://img.example.org/t.jpeg\nimage_alt: topnews2.jpeg\n---\n\n"
    "Text.\n"
)


@pytest.fixture
def issue(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project_dir)
    folder = project_dir / "issues" / "2024-06-01-pictures"
    (folder / "stories").mkdir(parents=True)
    (folder / "images").mkdir()
    for name in ("cover", "a", "chart", "sora", "raw", "divider", "inline", "s", "one"):
        (folder / "images" / f"{name}.png").write_bytes(b"\x89PNG\r\n")
    (folder / "issue.md").write_text(ISSUE, encoding="utf-8")
    (folder / "stories" / "01-one.md").write_text(STORY_WITHOUT_ALT, encoding="utf-8")
    (folder / "stories" / "02-two.md").write_text(STORY_WITH_NAME, encoding="utf-8")
    return folder


def test_check_warns_about_each_image_without_a_real_alt_text(issue: Path) -> None:
    result = CliRunner().invoke(app, ["check", issue.name])

    assert result.exit_code == 0, result.output
    where = f"warning: issues/{issue.name}/"
    found = [line for line in result.stdout.splitlines() if "alt" in line and line[:8] == where[:8]]
    assert found == [
        f"{where}issue.md:7: image 'images/a.png' has no alt text",
        f"{where}issue.md:9: image 'https://img.example.org/4hLUr1Cb.jpeg' has a file name as "
        "alt text ('topnews1.jpeg')",
        f"{where}issue.md:12: image 'images/a.png' has a file name as alt text ('IMG_2041')",
        f"{where}issue.md:16: image 'images/raw.png' has no alt attribute",
        f"{where}issue.md:20: image 'images/inline.png' has a file name as alt text "
        "('images/inline.png')",
        f"{where}issue.md:20: image 'images/s.png' has only spaces as alt text",
        f"{where}issue.md:4: the issue image has a file name as alt text ('cover.png')",
        f"{where}stories/01-one.md:3: the story image '../images/one.png' has no alt text",
        f"{where}stories/02-two.md:4: the story image 'https://img.example.org/t.jpeg' has a "
        "file name as alt text ('topnews2.jpeg')",
    ]
    hints = result.stdout
    assert 'or alt="" if the image is only decoration' in hints
    assert "add `image_alt: ...` to the story's front matter" in hints
    # A decorative raw HTML image (alt="") and real descriptions pass.
    assert "divider.png" not in hints and "chart.png" not in hints and "sora.png" not in hints


@pytest.mark.parametrize(
    ("alt", "src"),
    [
        ("topnews1.jpeg", "https://img.example.org/x.jpeg"),
        ("Screen Shot 2024-03-01 at 10.02.11.png", "shot.png"),
        ("IMG_2041", "a.jpg"),
        ("DSC01234", "a.jpg"),
        ("PXL_20240301_101112345", "a.jpg"),
        ("image1", "a.png"),
        ("hero_2", "images/hero_2.png"),
        ("2024-03-hero", "images/2024-03-hero.webp"),
        ("images/hero.png", "images/hero.png"),
        ("https://img.example.org/x.png", "https://img.example.org/x.png"),
        ("photo.HEIC", "photo.heic"),
        ("IMG_2041.JPG", "a.jpg"),
        ("photo.webp", "b.webp"),
        ("DSC0001", "c.jpg"),
        ("IMG 2041", "c.jpg"),
        ("Picture 3", "c.jpg"),
        ("Screenshot 2024-03-01 at 10.02.11", "shot.png"),
        ("Screen Shot 2024-03-01 at 10.02.11 AM", "shot.png"),
        ("/Users/ada/Desktop/launch", "launch.png"),
        ("../images/launch", "launch.png"),
        ("assets/launch", "assets/launch.png"),
    ],
)
def test_file_names_are_not_alt_text(alt: str, src: str) -> None:
    assert alt_problem(alt, src) == f"has a file name as alt text ({alt!r})"


@pytest.mark.parametrize(
    ("alt", "src"),
    [
        ("Sora", "images/sora.png"),
        ("A bar chart: sales doubled in March", "chart.png"),
        ("英伟达在GTC大会上发布的GR00T机器人", "topnews1.jpeg"),
        ("The 2024 keynote stage", "img_2041.jpg"),
        ("Node.js", "node.png"),
        ("Picture 3 shows the team", "team.jpg"),
        ("Photo 2 of the launch: the rocket on its pad", "launch.jpg"),
        ("AI/ML", "aiml.png"),
        ("and/or", "x.png"),
        ("24/7 support", "support.png"),
        ("v2.0 release notes", "notes.png"),
        ("TCP/IP stack diagram", "stack.png"),
        ("Image 1 of 3: the keynote stage", "keynote.jpg"),
    ],
)
def test_descriptions_are_alt_text(alt: str, src: str) -> None:
    assert alt_problem(alt, src) is None
