"""What `newsletter check` reports and `newsletter import` makes of inputs real authors write:
local files spelled in every way Markdown allows, line numbers, reference images, code blocks,
shortcodes, dates; see docs/content.md. (The loader's side: test_real_world_inputs.py.)"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter.authoring.importer import import_post
from newsletter.check.content import check_content
from newsletter.content.loader import IssueLoader

from .test_real_world_inputs import errors, line_of, write

# --- check: local files and line numbers --------------------------------------------------------


def test_check_reports_single_file_story_findings_at_their_lines(
    tmp_path: Path, loader: IssueLoader
) -> None:
    path = write(
        tmp_path,
        "post.md",
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\n![x](missing.png)\n\n## B\n\n\n\nText [y](gone.pdf)\n",
    )
    found = errors(loader.load(path), loader)
    assert [(name, line) for name, line, _ in found] == [
        ("post.md", line_of(path, "missing.png")),
        ("post.md", line_of(path, "gone.pdf")),
    ]


def test_check_line_of_a_lead_that_repeats_the_description(
    tmp_path: Path, loader: IssueLoader
) -> None:
    folder = tmp_path / "2024-03-10-w"
    issue_md = write(
        folder,
        "issue.md",
        "---\ntitle: T\ndescription: Big week for AI.\n---\n\nBig week for AI.\n\n![x](nope.png)\n",
    )
    assert errors(loader.load(folder), loader) == [
        (
            "issue.md",
            line_of(issue_md, "nope.png"),
            "image 'nope.png' does not resolve: nope.png is not in 2024-03-10-w/",
        )
    ]


def test_check_resolves_percent_encoded_titled_and_angle_bracket_images(
    tmp_path: Path, loader: IssueLoader
) -> None:
    folder = tmp_path / "2024-03-10-w"
    write(folder, "images/my hero.png", b"png")
    write(
        folder,
        "issue.md",
        "---\ntitle: T\n---\n\nLead ![a](images/my%20hero.png) ![b](<images/my hero.png>) "
        '![c](images/my%20hero.png "Title").\n',
    )
    write(
        folder,
        "stories/01-a.md",
        "---\ntitle: A\nimage: ../images/my%20hero.png\n---\n\n"
        "![s](<../images/my hero.png> 'T')\n\n<img src=\"../images/my%20hero.png\">\n",
    )
    issue = loader.load(folder)
    # The raw <img> has no alt attribute: that warning is tested in test_check.py.
    assert [note for note in check_content(issue, loader.parser) if note.code != "alt-text"] == []


@pytest.mark.skipif(sys.platform == "win32", reason="a backslash is a separator on Windows")
def test_check_reports_a_backslash_path(tmp_path: Path, loader: IssueLoader) -> None:
    folder = tmp_path / "2024-03-10-w"
    write(folder, "images/hero.png", b"png")
    write(folder, "issue.md", "---\ntitle: T\n---\n\nLead.\n\n![h](images\\hero.png)\n")
    found = errors(loader.load(folder), loader)
    assert len(found) == 1
    assert found[0][:2] == ("issue.md", 7)
    assert "does not resolve" in found[0][2]


# --- import ------------------------------------------------------------------------------------


def _import(tmp_path: Path, loader: IssueLoader, text: str, files: dict[str, bytes]) -> Path:
    source = tmp_path / "src"
    for name, data in files.items():
        write(source, name, data)
    return import_post(write(source, "post.md", text), tmp_path / "out", loader).path


def test_import_copies_reference_style_images(tmp_path: Path, loader: IssueLoader) -> None:
    folder = _import(
        tmp_path,
        loader,
        "---\ntitle: T\ndate: 2024-03-10\n---\n\nLead.\n\n## A\n\n![Logo][logo]\n\nBody.\n\n"
        "[logo]: images/logo.png\n",
        {"images/logo.png": b"png"},
    )
    assert (folder / "images" / "logo.png").is_file()
    assert errors(loader.load(folder), loader) == []


def test_import_copies_an_angle_bracket_image_with_spaces(
    tmp_path: Path, loader: IssueLoader
) -> None:
    source = tmp_path / "src"
    write(source, "img/my hero.png", b"png")
    result = import_post(
        write(source, "post.md", "---\ntitle: T\n---\n\nLead ![h](<img/my hero.png>).\n"),
        tmp_path / "out",
        loader,
    )
    assert result.missing == []
    assert errors(loader.load(result.path), loader) == []


def test_import_keeps_a_percent_encoded_image_a_valid_link(
    tmp_path: Path, loader: IssueLoader
) -> None:
    folder = _import(
        tmp_path,
        loader,
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\n![e](img/my%20hero.png)\n",
        {"img/my hero.png": b"png"},
    )
    story = loader.load(folder).main.stories[0]
    images = [
        child.attrs["src"]
        for token in loader.parser.parse(story.body)
        for child in token.children or []
        if child.type == "image"
    ]
    assert len(images) == 1
    assert errors(loader.load(folder), loader) == []


def test_import_keeps_image_titles_and_angle_brackets(tmp_path: Path, loader: IssueLoader) -> None:
    folder = _import(
        tmp_path,
        loader,
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\n![b](img/b.png \"Title\") ![c](<img/c.png> 'T')\n",
        {"img/b.png": b"b", "img/c.png": b"c"},
    )
    story = loader.load(folder).main.stories[0]
    assert story.body == "![b](../images/b.png \"Title\") ![c](<../images/c.png> 'T')"
    assert errors(loader.load(folder), loader) == []


def test_import_leaves_links_in_code_blocks_alone(tmp_path: Path, loader: IssueLoader) -> None:
    source = tmp_path / "src"
    result = import_post(
        write(
            source,
            "post.md",
            "---\ntitle: T\n---\n\nLead.\n\n## A\n\nExample:\n\n```md\n![example](example.png)\n```\n",
        ),
        tmp_path / "out",
        loader,
    )
    assert result.missing == []


def test_import_shortcode_warnings_point_at_their_lines(
    tmp_path: Path, loader: IssueLoader
) -> None:
    source = tmp_path / "src"
    result = import_post(
        write(
            source,
            "post.md",
            "---\ntitle: T\n---\n\nLead {{< youtube abc >}}.\n\n## A\n\n{{< tweet 123 >}}\n",
        ),
        tmp_path / "out",
        loader,
    )
    assert len(result.shortcodes) == 2
    for where, shortcode in result.shortcodes:
        assert line_of(result.path / where, "{{<") == shortcode.line


def test_import_keeps_a_utc_midnight_date(tmp_path: Path, loader: IssueLoader) -> None:
    folder = _import(
        tmp_path, loader, "---\ntitle: T\ndate: 2024-03-10T00:00:00Z\n---\n\nLead.\n", {}
    )
    assert loader.load(folder).main.date == datetime(2024, 3, 10, tzinfo=UTC)
