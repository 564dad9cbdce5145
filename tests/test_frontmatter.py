"""Front matter in every supported form, and text that only looks like front matter."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.content.frontmatter import split_front_matter
from newsletter.content.loader import IssueLoader

PATH = Path("post.md")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("---\ntitle: Hello\ndate: 2024-03-10\n---\n\nBody.\n", "yaml"),
        ('+++\ntitle = "Hello"\ndate = 2024-03-10\n+++\n\nBody.\n', "toml"),
        ('{\n  "title": "Hello",\n  "date": "2024-03-10"\n}\n\nBody.\n', "json"),
        ("Title: Hello\nDate: 2024-03-10\n\nBody.\n", "pelican"),
    ],
)
def test_every_front_matter_form_gives_the_same_metadata(
    text: str, kind: str, tmp_path: Path, loader: IssueLoader
) -> None:
    front = split_front_matter(text, PATH)
    assert front.format == kind
    assert front.body.strip() == "Body."
    assert (
        text.split("\n")[front.body_line - 1] == "Body."
        or text.split("\n")[front.body_line - 1] == ""
    )
    path = tmp_path / "post.md"
    path.write_text(text, encoding="utf-8")
    edition = loader.load(path).main
    assert edition.title == "Hello"
    assert edition.date == datetime(2024, 3, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    assert edition.lead == "Body."


@pytest.mark.parametrize(
    "text",
    [
        "Note: this issue is late, sorry.\n\nBody.\n",  # `Note` is not a metadata key.
        "Title: looks like a header\nbut this line is ordinary text\n\nBody.\n",
        "# A heading first\n\nBody.\n",
    ],
)
def test_text_that_only_looks_like_headers_stays_body(text: str) -> None:
    front = split_front_matter(text, PATH)
    assert front.format == "none"
    assert front.meta == {}
    assert front.body == text


def test_pelican_multi_line_values_and_key_lines() -> None:
    front = split_front_matter("Title: A long\n  title over two lines\nTags: a, b\n\nBody.\n", PATH)
    assert front.meta == {"title": "A long title over two lines", "tags": "a, b"}
    assert front.key_lines == {"title": 1, "tags": 3}
    assert front.body_line == 5


def test_empty_front_matter_is_allowed() -> None:
    front = split_front_matter("---\n---\n\nBody.\n", PATH)
    assert (front.format, front.meta, front.body.strip()) == ("yaml", {}, "Body.")


def test_front_matter_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "list.md").write_text(
        "---\n- just\n- a list\n---\n\nBody.\n", encoding="utf-8"
    )
    (tmp_path / "newsletter.toml").write_text('issues_dir = "issues"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "newsletter.toml"), "check"])
    assert result.exit_code == 1
    assert (
        "list.md:2: YAML front matter must be a mapping of keys to values, not a list"
        in result.output
    )


def test_aliases_and_nested_tables_are_normalized(tmp_path: Path, loader: IssueLoader) -> None:
    path = tmp_path / "zola.md"
    path.write_text(
        '+++\ntitle = "Crab Mail"\n[taxonomies]\ntags = ["rust"]\ncategories = ["news"]\n'
        '[extra]\nauthor = "Jonas"\ncover_image = "cover.png"\nseries = "crab"\n+++\n\nHi.\n',
        encoding="utf-8",
    )
    edition = loader.load(path).main
    assert (edition.authors, edition.tags, edition.image) == (
        ["Jonas"],
        ["rust", "news"],
        "cover.png",
    )
    assert edition.extra == {"series": "crab"}
    assert edition.meta_lines["image"] == 8


def test_cta_mapping_status_draft_and_number(tmp_path: Path, loader: IssueLoader) -> None:
    path = tmp_path / "x.md"
    path.write_text(
        "---\ntitle: X\ndraft: true\nissue: '#12'\ncall-to-action:\n  text: Subscribe\n  url: https://example.org/s\n---\n\nHi.\n",
        encoding="utf-8",
    )
    edition = loader.load(path).main
    assert edition.status == "draft"
    assert edition.number == 12
    assert edition.cta is not None and (edition.cta.text, edition.cta.url) == (
        "Subscribe",
        "https://example.org/s",
    )
