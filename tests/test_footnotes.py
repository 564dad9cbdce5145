"""Footnotes number once per edition, across lead, stories and closing, in all three outputs.

The email shows plain numbers (in-message anchors do not work in many mail clients, so neither
references nor back-links are links); the web page links both ways, with ids unique on the
page; the text part writes `[n]` for footnotes and links alike, from one count, so that every
`[n]` means one thing: a link listed at the end, or a footnote's text under its story.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from newsletter.check import check_content
from newsletter.config import Project, load_project
from newsletter.content.loader import IssueLoader
from newsletter.content.markdown import markdown_parser
from newsletter.render.pipeline import RenderedEdition, Renderer

from .conftest import ROOT

MONTHLY = "2024-05-07-this-month-in-ai"  # Nine stories, each citing its source as [^n].


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NEWSLETTER_CONFIG", raising=False)
    return load_project()


def _notes_issue(root: Path) -> Path:
    """Footnotes in the lead, in stories (one cited twice, two in one story), in the closing."""
    folder = root / "2024-06-06-notes"
    (folder / "stories").mkdir(parents=True)
    (folder / "issue.md").write_text(
        "---\ntitle: Notes\n---\n\nThe lead cites a survey.[^s]\n\n[^s]: A survey of 2024.\n",
        encoding="utf-8",
    )
    (folder / "stories" / "01-a.md").write_text(
        "---\ntitle: Story A\n---\n\nA claims one thing[^1] and another[^2], then the first "
        "again.[^1]\n\n[^1]: [The paper](https://example.com/paper).\n[^2]: A blog post.\n",
        encoding="utf-8",
    )
    (folder / "stories" / "02-b.md").write_text(
        "---\ntitle: Story B\n---\n\nB cites [a page](https://example.com/b) and a note.[^1]\n\n"
        "[^1]: Another note, numbered on.\n",
        encoding="utf-8",
    )
    return folder


def _render(project: Project, path: Path, locale: str = "en") -> RenderedEdition:
    issue = IssueLoader(project.config).load(path)
    return Renderer(project).render(issue, locale)


def _list_numbers(html: str) -> list[int]:
    """The numbers the footnote lists of `html` show, from their `start` and items."""
    numbers = []
    for start, items in re.findall(
        r'<ol class="footnotes-list"(?: start="(\d+)")?[^>]*>(.*?)</ol>', html, re.DOTALL
    ):
        first = int(start or 1)
        numbers += range(first, first + items.count('class="footnote-item"'))
    return numbers


def _references(html: str) -> list[int]:
    return [
        int(n) for n in re.findall(r'<sup class="footnote-ref"[^>]*>(?:<a[^>]*>)?\[(\d+)\]', html)
    ]


@pytest.mark.parametrize("source", ["monthly", "notes"])
def test_html_email_numbers_footnotes_once_per_edition_without_links(
    project: Project, tmp_path: Path, source: str
) -> None:
    path = project.issues_path / MONTHLY if source == "monthly" else _notes_issue(tmp_path)
    email = _render(project, path).email_html
    count = 9 if source == "monthly" else 4
    assert _list_numbers(email) == list(range(1, count + 1))
    assert sorted(set(_references(email))) == list(range(1, count + 1))
    assert "footnote-backref" not in email and "↩" not in email
    assert 'href="#fn' not in email and 'id="fn' not in email


@pytest.mark.parametrize("source", ["monthly", "notes"])
def test_web_page_links_footnotes_both_ways_with_unique_ids(
    project: Project, tmp_path: Path, source: str
) -> None:
    path = project.issues_path / MONTHLY if source == "monthly" else _notes_issue(tmp_path)
    web = _render(project, path).web_html
    count = 9 if source == "monthly" else 4
    assert _list_numbers(web) == list(range(1, count + 1))
    ids = re.findall(r'\bid="([^"]+)"', web)
    assert [name for name, seen in Counter(ids).items() if seen > 1] == []
    targets = re.findall(r'href="#([^"]+)"', web)
    assert {t for t in targets if t.startswith("fn")} <= set(ids)
    assert {f"fn-{n}" for n in range(1, count + 1)} <= set(targets)
    assert web.count('class="footnote-backref"') == len(re.findall(r'id="fnref-', web))


def test_text_part_gives_links_and_footnotes_one_count(project: Project, tmp_path: Path) -> None:
    text = _render(project, _notes_issue(tmp_path)).text
    assert "[^" not in text
    body, _, listing = text.partition("\nLinks\n")
    cited = [int(n) for n in re.findall(r"(?<=.)\[(\d+)\]", body)]  # Not at a line start.
    defined = [int(n) for n in re.findall(r"^\[(\d+)\] ", text, re.MULTILINE)]
    assert sorted(defined) == list(range(1, len(defined) + 1))  # Each number defined once.
    assert set(cited) <= set(defined)
    notes = dict(re.findall(r"^\[(\d+)\] (.+)$", body, re.MULTILINE))
    links = dict(re.findall(r"^\[(\d+)\] (\S+)$", listing, re.MULTILINE))
    assert set(notes).isdisjoint(links)
    assert [notes[n] for n in sorted(notes, key=int)] == [
        "A survey of 2024.",
        f"The paper [{next(n for n, url in links.items() if url.endswith('/paper'))}].",
        "A blog post.",
        "Another note, numbered on.",
    ]
    # The note cited twice keeps its number; numbers follow the reading order.
    story_a = body[body.index("## Story A") : body.index("## Story B")]
    first, second, again = (int(n) for n in re.findall(r"(?<=\S)\[(\d+)\]", story_a)[:3])
    assert first == again < second


def test_web_footnote_links_work_in_a_browser(
    project: Project, tmp_path: Path, browser: Browser
) -> None:
    web = _render(project, _notes_issue(tmp_path)).web_html
    page = browser.new_page()
    try:
        page.set_content(web)
        page.click('a[href="#fn-3"]')
        assert page.evaluate("location.hash") == "#fn-3"
        assert page.evaluate("document.querySelector(':target').textContent").startswith("A blog")
        page.click("#fn-3 a.footnote-backref")
        assert page.evaluate("location.hash") == "#fnref-3"
    finally:
        page.close()


SAME_LABELS = """---
title: Same labels
lang: en
---

The lead.[^note]

[^note]: The lead's own note.

## First story

One claim.[^note] And a missing one.[^missing]

[^note]: First story's note.

## Second story

Another claim.[^note] And `[^code]` is code.

[^note]: Second story's note.
"""


@pytest.mark.parametrize("layout", ["single file", "folder"])
def test_the_same_label_in_several_stories_and_a_missing_note_render_and_check_warns(
    project: Project, tmp_path: Path, layout: str
) -> None:
    if layout == "single file":
        path = tmp_path / "2024-06-07-same.md"
        path.write_text(SAME_LABELS, encoding="utf-8")
        story_file, line = path, 12
    else:
        path = tmp_path / "2024-06-07-same"
        (path / "stories").mkdir(parents=True)
        lead, first, second = SAME_LABELS.split("## ")
        (path / "issue.md").write_text(lead, encoding="utf-8")
        for name, text in (("01-first.md", first), ("02-second.md", second)):
            title, body = text.split("\n", 1)
            (path / "stories" / name).write_text(f"---\ntitle: {title}\n---\n{body}", "utf-8")
        story_file, line = path / "stories" / "01-first.md", 5
    rendered = _render(project, path)
    notes = [
        "The lead's own note.",
        "First story's note.",
        "Second story's note.",
    ]
    for html in (rendered.email_html, rendered.web_html):
        assert _list_numbers(html) == [1, 2, 3]
        assert _references(html) == [1, 2, 3]
        items = re.findall(r'<li[^>]*class="footnote-item"[^>]*>(.*?)</li>', html, re.DOTALL)
        assert [re.sub(r"<[^>]+>|↩︎", "", item).strip() for item in items] == notes
    ids = re.findall(r'\bid="([^"]+)"', rendered.web_html)
    assert [name for name, seen in Counter(ids).items() if seen > 1] == []
    text = rendered.text
    assert [text.index(f"] {note}") for note in notes] == sorted(
        text.index(f"] {note}") for note in notes
    )
    assert re.findall(r"^\[(\d+)\] (.+)$", text, re.MULTILINE) == [
        (str(n), note) for n, note in enumerate(notes, 1)
    ]
    assert "\n\n\n[" not in text

    issue = IssueLoader(project.config).load(path)
    found = [
        (note.severity, note.path, note.line, note.message)
        for note in check_content(issue, markdown_parser())
        if note.code == "footnote"
    ]
    assert found == [
        (
            "warning",
            story_file,
            line,
            "footnote [^missing] has no definition: it shows as [^missing]",
        )
    ]
