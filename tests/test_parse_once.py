"""Each Markdown part is parsed once: the loader's parse of the whole file gives the tokens that
rendering uses (Edition.parsed), and they are what a parse of the part alone gives (line maps
aside: they are the file's lines, and nothing renders them)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from newsletter.content.loader import IssueLoader
from newsletter.content.markdown import markdown_parser
from newsletter.content.structure import read_layout
from newsletter.model import Edition

BLOCKS = [
    "A paragraph with **bold**, ~~struck~~ and a [link](https://example.com/a).",
    "A paragraph\nwrapped lazily\nover lines.",
    "Setext heading\n==============",
    "- one\n- two",
    "- loose\n\n- list",
    "1. first\n\n   more of it\n2. second",
    "  - nested\n    - deeper",
    "- [Linked item](https://example.com/item) with text",
    "> a quote\n> on two lines",
    "> ```\n> unclosed fence in a quote",
    "```\nfenced code\n```",
    "```\nunclosed fence",
    "    indented code\n\n    more code",
    "<div>\nraw html\n</div>",
    "<!-- a comment -->",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "Text with a hard break  \nand on.",
    "Text ending in spaces   ",
    "![an image](pic.png)",
    "&#27; and &amp; references",
    "---",
    "***",
    "## A story",
    "### A deeper heading",
    "## [A linked story](https://example.com/s)",
    "# A title",
    "",
    "   ",
    "Reference [ref] use",
    "A note[^1] reference",
]
HTML = RendererHTML()
documents = st.lists(st.sampled_from(BLOCKS), max_size=14).map(
    lambda blocks: "\n\n".join(blocks) + "\n"
) | st.lists(st.sampled_from(BLOCKS), max_size=14).map("\n".join)


def without_maps(tokens: list[Token]) -> list[Token]:
    return [replace(token, map=None) for token in tokens]


def assert_same_as_parsed_alone(parsed: dict[str, list[Token]]) -> None:
    parser = markdown_parser()
    for text, tokens in parsed.items():
        assert without_maps(tokens) == without_maps(parser.parse(text)), text
        assert HTML.render(tokens, parser.options, {}) == parser.render(text)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(documents, st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_the_kept_tokens_are_those_of_the_part_parsed_alone(
    body: str, has_title: bool, newline: str
) -> None:
    layout = read_layout(markdown_parser(), body.replace("\n", newline), 5, has_title)
    assert_same_as_parsed_alone(layout.parsed)


def parts(edition: Edition) -> list[str]:
    texts = [edition.lead, *(s.intro for s in edition.sections), edition.closing, edition.footer]
    return [text for text in [*texts, *(s.body for s in edition.stories)] if text.strip()]


def test_a_plain_issue_is_parsed_once(tmp_path: Path, loader: IssueLoader) -> None:
    path = tmp_path / "2026-01-05-weekly.md"
    path.write_text(
        "---\ntitle: Weekly\nstatus: sent\n---\n\nThe lead, with a [link](https://example.com).\n\n"
        "## News\n\n### First\n\nIts text.\n\n- a list\n- at its end\n\n\n### Second\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n---\n\nThe footer.\n",
        encoding="utf-8",
    )
    edition = loader.load(path).main
    assert set(parts(edition)) == set(edition.parsed)
    assert_same_as_parsed_alone(edition.parsed)


def test_definitions_and_raw_html_at_a_part_end_are_parsed_again(
    tmp_path: Path, loader: IssueLoader
) -> None:
    # A footnote or reference definition may be used by any part, and raw HTML (or a fence)
    # at the very end of a part ends without a line break when parsed alone: none is kept.
    notes = tmp_path / "2026-01-05-notes.md"
    notes.write_text(
        "---\ntitle: Notes\n---\n\nLead.[^a]\n\n## Story\n\nText [ref].\n\n"
        "[^a]: The note.\n\n[ref]: https://example.com\n",
        encoding="utf-8",
    )
    assert loader.load(notes).main.parsed == {}
    html = tmp_path / "2026-01-12-html.md"
    html.write_text(
        "---\ntitle: Raw\n---\n\nLead.\n\n## Story\n\n<div>\nraw\n</div>\n\n## Next\n\nText.\n",
        encoding="utf-8",
    )
    edition = loader.load(html).main
    assert set(edition.parsed) == {"Lead.", "Text."}
    assert_same_as_parsed_alone(edition.parsed)
