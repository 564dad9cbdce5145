"""Inputs real authors write (CRLF, setext headings, wrapped footnotes, reference images,
translations that drop a story...), checked against the rules in docs/content.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsletter.authoring.importer import import_post
from newsletter.check.content import check_content
from newsletter.content.loader import IssueLoader
from newsletter.errors import ContentError
from newsletter.model import Edition, Issue

BERLIN = ZoneInfo("Europe/Berlin")


def write(base: Path, name: str, text: str | bytes) -> Path:
    path = base / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load(loader: IssueLoader, base: Path, text: str | bytes, name: str = "post.md") -> Edition:
    return loader.load(write(base, name, text)).main


def errors(issue: Issue, loader: IssueLoader) -> list[tuple[str, int | None, str]]:
    return [
        (note.path.name, note.line, note.message)
        for note in check_content(issue, loader.parser)
        if note.severity == "error"
    ]


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


# --- Front matter and file encoding ------------------------------------------------------------


def test_crlf_line_ends_and_bom_before_the_front_matter(
    tmp_path: Path, loader: IssueLoader
) -> None:
    text = "\ufeff---\r\ntitle: Weekly\r\ndate: 2024-03-10\r\n---\r\n\r\nThe lead.\r\n\r\n## Alpha\r\n\r\nAlpha body.\r\n"
    edition = load(loader, tmp_path, text.encode("utf-8"))
    assert edition.title == "Weekly"
    assert edition.date == datetime(2024, 3, 10, tzinfo=BERLIN)
    assert edition.lead == "The lead."
    assert [(s.title, s.body) for s in edition.stories] == [("Alpha", "Alpha body.")]
    assert not [n for n in edition.notes if n.severity == "error"]


def test_document_with_only_front_matter(tmp_path: Path, loader: IssueLoader) -> None:
    for name, text in (("a.md", "---\ntitle: Empty\n---\n"), ("b.md", "---\ntitle: Empty\n---")):
        edition = load(loader, tmp_path, text, name)
        assert edition.title == "Empty"
        assert (edition.lead, edition.stories, edition.footer) == ("", [], "")


def test_front_matter_followed_by_text_without_a_blank_line(
    tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(loader, tmp_path, "---\ntitle: T\n---\nLead right away.\n\n## A\n\nBody.\n")
    assert edition.lead == "Lead right away."
    assert [s.title for s in edition.stories] == ["A"]


def test_yaml_datetime_with_z_and_without_zone(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\ndate: 2024-03-10T08:00:00Z\nupdated: 2024-03-10 08:00:00\n---\n\nLead.\n",
    )
    assert edition.date == datetime(2024, 3, 10, 8, tzinfo=UTC)
    assert edition.updated == datetime(2024, 3, 10, 8, tzinfo=BERLIN)
    assert edition.updated.utcoffset() is not None


def test_toml_datetimes(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        '+++\ntitle = "T"\ndate = 2024-03-10T08:00:00Z\nupdated = 2024-03-10T08:00:00\n'
        "send_at = 2024-03-11T07:30:00+02:00\n+++\n\nLead.\n",
    )
    assert edition.date == datetime(2024, 3, 10, 8, tzinfo=UTC)
    assert edition.updated == datetime(2024, 3, 10, 8, tzinfo=BERLIN)
    assert edition.send_at == datetime(2024, 3, 11, 5, 30, tzinfo=UTC)


def test_one_line_json_front_matter(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(loader, tmp_path, '{"title": "One line", "date": "2024-03-10"}\n\nThe lead.\n')
    assert edition.title == "One line"
    assert edition.lead == "The lead."


# --- Headings, thematic breaks and code ---------------------------------------------------------


def test_setext_headings(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "Weekly\n======\n\nThe lead.\n\nStory A\n-------\n\nBody a.\n\nStory B\n-------\n\nBody b.\n",
    )
    assert edition.title == "Weekly"
    assert edition.lead == "The lead."
    assert [(s.title, s.body) for s in edition.stories] == [
        ("Story A", "Body a."),
        ("Story B", "Body b."),
    ]


def test_fenced_code_with_fence_heading_and_footnote_lines_stays_in_its_story(
    tmp_path: Path, loader: IssueLoader
) -> None:
    code = "```yaml\n---\nkey: value\n---\n## not a heading\n[^1]: not a footnote\n```"
    edition = load(
        loader,
        tmp_path,
        f"---\ntitle: T\n---\n\nLead.\n\n## A\n\nExample:\n\n{code}\n\n## B\n\nBody b.\n",
    )
    assert [s.title for s in edition.stories] == ["A", "B"]
    assert edition.stories[0].body == f"Example:\n\n{code}"
    assert edition.closing == ""
    assert not edition.notes


def test_footnote_like_line_in_a_fence_inside_a_list_item(
    tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\nSteps:\n\n1. Write this:\n\n"
        "   ```md\n   [^1]: A footnote\n   ```\n\n2. Done.\n\n## B\n\nBody b.\n",
    )
    assert "   [^1]: A footnote" in edition.stories[0].body
    assert edition.closing == ""
    assert not edition.notes


@pytest.mark.parametrize("rule", ["***", "- - -", "___", "---"])
def test_thematic_break_spellings_close_the_story_and_open_the_footer(
    rule: str, tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(
        loader,
        tmp_path,
        f"---\ntitle: T\n---\n\nLead.\n\n## A\n\nBody a.\n\n{rule}\n\n> Thanks for reading.\n",
    )
    assert [s.body for s in edition.stories] == ["Body a."]
    assert edition.footer == "Thanks for reading."


def test_story_heading_that_is_a_link_gives_the_url(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## [Big news](https://x.example/a)\n\nBody a.\n\n"
        '## [Other](https://x.example/b "Title") ##\n\nBody b.\n',
    )
    assert [(s.title, s.url, s.body) for s in edition.stories] == [
        ("Big news", "https://x.example/a", "Body a."),
        ("Other", "https://x.example/b", "Body b."),
    ]


def test_closing_hashes_are_not_part_of_titles(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(loader, tmp_path, "# Weekly #\n\nLead.\n\n## Story A ##\n\nBody a.\n")
    assert edition.title == "Weekly"
    assert [s.title for s in edition.stories] == ["Story A"]


def test_first_heading_h2_and_no_lead(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader, tmp_path, "---\ntitle: T\n---\n\n## Alpha\n\nAlpha body.\n\n## Beta\n\nBeta body.\n"
    )
    assert edition.lead == ""
    assert [(s.title, s.body) for s in edition.stories] == [
        ("Alpha", "Alpha body."),
        ("Beta", "Beta body."),
    ]


def test_details_html_block_stays_in_its_story(tmp_path: Path, loader: IssueLoader) -> None:
    details = "<details>\n<summary>More</summary>\n\nHidden **bold** text.\n\n</details>"
    edition = load(
        loader,
        tmp_path,
        f"---\ntitle: T\n---\n\nLead.\n\n## A\n\nBody a.\n\n{details}\n\n## B\n\nBody b.\n",
    )
    assert [s.title for s in edition.stories] == ["A", "B"]
    assert edition.stories[0].body == f"Body a.\n\n{details}"


# --- Link lists ----------------------------------------------------------------------------------


def test_nested_bullets_stay_with_their_link_list_item(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## Links\n\n"
        "- [One](https://one.example) is great.\n"
        "  - a sub note with no link\n"
        "  - another [sub](https://sub.example)\n"
        "- [Two](https://two.example) also.\n",
    )
    assert [s.title for s in edition.named_sections] == ["Links"]
    assert [(s.title, s.url) for s in edition.stories] == [
        ("One", "https://one.example"),
        ("Two", "https://two.example"),
    ]
    assert "a sub note with no link" in edition.stories[0].body
    assert "sub.example" in edition.stories[0].body
    assert "sub" not in edition.stories[1].body


def test_link_list_item_spanning_several_lines(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## Links\n\n"
        "- **Thing one**: a long description that\n"
        "  wraps onto the next line and ends with [a link](https://one.example).\n"
        "- **Thing two**: another description\n"
        "  that wraps, [link](https://two.example).\n",
    )
    assert [(s.title, s.url) for s in edition.stories] == [
        ("Thing one", "https://one.example"),
        ("Thing two", "https://two.example"),
    ]
    assert edition.stories[0].body == (
        "**Thing one**: a long description that\n"
        "wraps onto the next line and ends with [a link](https://one.example)."
    )


def test_ordered_list_of_links_is_one_story(tmp_path: Path, loader: IssueLoader) -> None:
    # docs/content.md splits only *bullet* lists into one story per item.
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## Links\n\n"
        "1. [One](https://one.example) is great.\n2. [Two](https://two.example) also.\n",
    )
    assert [s.title for s in edition.stories] == ["Links"]
    assert edition.named_sections == []


def test_link_list_title_from_a_reference_style_lead_in(
    tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## Links\n\n"
        "- [OpenAI][openai] ships a new model. It is big.\n"
        "- [Anthropic][] releases a paper.\n\n"
        "[openai]: https://openai.example\n[anthropic]: https://anthropic.example\n",
    )
    assert [(s.title, s.url) for s in edition.stories] == [
        ("OpenAI", "https://openai.example"),
        ("Anthropic", "https://anthropic.example"),
    ]


# --- Footnotes and reference definitions ---------------------------------------------------------


def test_reference_definitions_match_their_use_ignoring_case(
    tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## Alpha\n\nSee [the Report][Report 2024] and [OpenAI].\n\n"
        "## Beta\n\nBeta body.\n\n[report 2024]: https://r.example\n[openai]: https://openai.example\n",
    )
    alpha, beta = edition.stories
    assert "[report 2024]: https://r.example" in alpha.body
    assert "[openai]: https://openai.example" in alpha.body
    assert beta.body == "Beta body."
    assert edition.closing == ""


def test_footnote_cited_by_two_stories_travels_with_both(
    tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## Alpha\n\nAlpha claims[^src].\n\n"
        "## Beta\n\nBeta too[^src].\n\n[^src]: https://src.example\n",
    )
    assert [s.body for s in edition.stories] == [
        "Alpha claims[^src].\n\n[^src]: https://src.example",
        "Beta too[^src].\n\n[^src]: https://src.example",
    ]
    assert edition.closing == ""
    assert not edition.notes


def test_trailing_footnotes_one_per_story_are_their_sources(
    tmp_path: Path, loader: IssueLoader
) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\nBody a.\n\n## B\n\nBody b.\n\n"
        "[^1]: [Source A](https://a.example)\n[^2]: [Source B](https://b.example)\n",
    )
    assert [(s.url, s.body) for s in edition.stories] == [
        ("https://a.example", "Body a.[^1]\n\n[^1]: [Source A](https://a.example)"),
        ("https://b.example", "Body b.[^2]\n\n[^2]: [Source B](https://b.example)"),
    ]


def test_trailing_source_footnote_with_an_autolink(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\nBody a.\n\n## B\n\nBody b.\n\n"
        "[^1]: <https://a.example/x>\n[^2]: <https://b.example/y>\n",
    )
    assert [s.url for s in edition.stories] == ["https://a.example/x", "https://b.example/y"]


def test_hard_wrapped_footnote_stays_in_one_piece(tmp_path: Path, loader: IssueLoader) -> None:
    edition = load(
        loader,
        tmp_path,
        "---\ntitle: T\n---\n\nLead.\n\n## A\n\nAlpha claims[^a].\n\n## B\n\nBeta body.\n\n"
        "[^a]: The source for this claim is a long report that\n"
        "wraps onto a second line without indentation.\n",
    )
    alpha, beta = edition.stories
    assert beta.body == "Beta body."
    assert "wraps onto a second line" in alpha.body


# --- Translations --------------------------------------------------------------------------------

ORIGINAL = (
    "---\ntitle: Weekly\ndate: 2024-03-10\nimage: https://x.example/hero.png\nauthors: [Ann]\n"
    "tags: [ai]\nnumber: 12\nstatus: ready\n---\n\nLead.\n\n"
    "## News\n\n### Alpha\n\nAlpha body.\n\n### Beta\n\nBeta body.\n\n"
    "## Tools\n\n### Gamma\n\nGamma body.\n"
)
GERMAN = (
    "---\ntitle: Wöchentlich\n---\n\nEinleitung.\n\n"
    "## Nachrichten\n\n### Alpha DE\n\nAlpha Text.\n\n## Werkzeuge\n\n### Gamma DE\n\nGamma Text.\n"
)
FRENCH = (
    "---\ntitle: Hebdo\n---\n\nIntro.\n\n## Nouvelles\n\n### Alpha FR\n\nTexte A.\n\n"
    "### Beta FR\n\nTexte B.\n\n### Extra FR\n\nTexte E.\n\n## Outils\n\n### Gamma FR\n\nTexte G.\n"
)


def _translated(tmp_path: Path, loader: IssueLoader) -> Issue:
    write(tmp_path, "weekly.de.md", GERMAN)
    write(tmp_path, "weekly.fr.md", FRENCH)
    return loader.load(write(tmp_path, "weekly.md", ORIGINAL))


def test_translations_with_other_story_counts_keep_their_own_stories(
    tmp_path: Path, loader: IssueLoader
) -> None:
    issue = _translated(tmp_path, loader)
    assert issue.locales == ["en", "de", "fr"]
    de, fr = issue.editions["de"], issue.editions["fr"]
    assert [s.title for s in issue.main.stories] == ["Alpha", "Beta", "Gamma"]
    assert [s.title for s in de.stories] == ["Alpha DE", "Gamma DE"]
    assert [s.title for s in fr.stories] == ["Alpha FR", "Beta FR", "Extra FR", "Gamma FR"]
    # The sections line up by position, so they keep the original's ids.
    assert [(s.id, s.title) for s in de.named_sections] == [
        ("news", "Nachrichten"),
        ("tools", "Werkzeuge"),
    ]
    assert [s.section for s in fr.stories] == ["news", "news", "news", "tools"]


def test_single_file_translation_inherits_keys_it_does_not_restate(
    tmp_path: Path, loader: IssueLoader
) -> None:
    issue = _translated(tmp_path, loader)
    main, de = issue.main, issue.editions["de"]
    assert de.date == main.date == datetime(2024, 3, 10, tzinfo=BERLIN)
    assert de.image == main.image
    assert de.authors == ["Ann"]
    assert de.tags == ["ai"]
    assert de.number == 12
    assert de.status == "ready"


def test_backup_file_next_to_a_single_file_issue_is_not_a_translation(
    tmp_path: Path, loader: IssueLoader
) -> None:
    text = "---\ntitle: Weekly\n---\n\nLead.\n\n## A\n\nBody.\n"
    write(tmp_path, "weekly.md.bak", text.replace("Weekly", "Old draft"))
    issue = loader.load(write(tmp_path, "weekly.md", text))
    assert issue.locales == ["en"]


def test_import_refuses_a_translation_whose_stories_cannot_be_matched(
    tmp_path: Path, loader: IssueLoader
) -> None:
    # The German text drops Beta from "News": which original story "Alpha DE" translates
    # cannot be known, so import names the problem and writes nothing rather than guess.
    source = tmp_path / "src"
    write(source, "weekly.de.md", GERMAN)
    original = write(source, "weekly.md", ORIGINAL)
    issue = loader.load(original)
    german = issue.editions["de"]
    assert [story.slug for story in german.stories if story.title == "Gamma DE"] == ["gamma"]
    [note] = [note for note in german.notes if note.code == "unmatched-translation"]
    assert "1 de stories match no story of the original ('Alpha DE')" in note.message
    with pytest.raises(ContentError, match="match no story of the original"):
        import_post(original, tmp_path / "out", loader)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
