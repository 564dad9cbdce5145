"""Section ids and story slugs are the anchors of the web page: unique on it, stable otherwise.

A slug already taken by a section, an earlier story, the page's own `content` or a footnote's
id is numbered (or, for a footnote's, named for what it is); sections keep theirs first; the
translations and single-file issues get the same anchors; nothing else changes.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.content.loader import IssueLoader
from newsletter.model import Edition


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def _anchors(edition: Edition) -> tuple[list[str], list[str]]:
    """The edition's section ids (titled sections) and story slugs, in order."""
    return [s.id for s in edition.named_sections], [s.slug for s in edition.stories]


def test_a_taken_anchor_is_numbered_and_the_others_stay(
    tmp_path: Path, loader: IssueLoader
) -> None:
    _write(
        tmp_path / "issue",
        {
            "issue.md": "---\ntitle: Anchors\nsections:\n- News\n- Content\n- Tools\n---\n\nLead.\n",
            "issue.ar.md": "---\ntitle: مراسٍ\n---\n\nمقدمة.\n",
            "stories/01-news.md": "---\ntitle: A\nsection: News\n---\n\nText.[^1]\n\n[^1]: Note.\n",
            "stories/02-news-2.md": "---\ntitle: B\nsection: News\n---\n\nText.\n",
            "stories/03-content.md": "---\ntitle: C\nsection: Content\n---\n\nText.\n",
            "stories/04-fn-1.md": "---\ntitle: D\nsection: Content\n---\n\nText.\n",
            "stories/05-hammer.md": "---\ntitle: E\nsection: Tools\n---\n\nText.\n",
            "stories/06-fn.md": "---\ntitle: F\nsection: Tools\n---\n\nText.\n",
            "stories/07-fn.md": "---\ntitle: G\nsection: Tools\nslug: fnref-1\n---\n\nText.\n",
            "stories/01-news.ar.md": "---\ntitle: أ\n---\n\nنص.\n",
        },
    )
    issue = loader.load(tmp_path / "issue")
    expected = (
        ["news", "content-2", "tools"],
        ["news-3", "news-2", "content-3", "story-fn-1", "hammer", "story-fn", "story-fnref-1"],
    )
    assert _anchors(issue.editions["en"]) == expected
    assert _anchors(issue.editions["ar"]) == expected
    news = issue.editions["ar"].named_sections[0]
    assert [story.slug for story in news.stories] == ["news-3", "news-2"]
    assert all(story.section == "news" for story in news.stories)


def test_a_single_file_issue_gets_unique_anchors_too(tmp_path: Path, loader: IssueLoader) -> None:
    _write(
        tmp_path,
        {
            "post.md": "---\ntitle: One file\n---\n\nLead.\n\n## Content\n\n### Content\n\n"
            "Text.\n\n### Other\n\nMore text.\n",
        },
    )
    edition = loader.load(tmp_path / "post.md").editions["en"]
    assert _anchors(edition) == (["content-2"], ["content-3", "other"])
