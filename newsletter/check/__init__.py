"""`newsletter check`: lint issues before they are built or sent.

Checks return Notes (errors and warnings); the loader's own notes (a missing title, a story
falling back to the default language) are part of the report.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt

from newsletter.check.content import check_content
from newsletter.content.loader import SLUG_HINT, duplicate_slugs
from newsletter.model import Issue, Note

if TYPE_CHECKING:
    from newsletter.check.rendered import Renders

__all__ = ["check_content", "check_duplicate_slugs", "check_issue", "count"]


def check_issue(
    issue: Issue, parser: MarkdownIt, renderer: Renders, fields: Collection[str] = ()
) -> list[Note]:
    """What `newsletter check` reports for one issue: its files, then, when they hold no error,
    its rendered editions (the preview shows the same); `fields`: the configured attribute
    keys subscriber fields may use."""
    from newsletter.check.rendered import check_rendered

    notes = check_content(issue, parser, fields)
    if not any(note.severity == "error" for note in notes):
        notes.extend(check_rendered(issue, renderer, fields))
    return notes


def check_duplicate_slugs(issues: list[Issue]) -> list[Note]:
    """An error for each issue whose slug another issue already uses."""
    return [
        Note(
            "error",
            f"issue slug {issue.slug!r} is already used by {first.path.name}",
            issue.main.source,
            issue.main.meta_lines.get("slug", 1),
            SLUG_HINT,
            code="duplicate-slug",
        )
        for issue, first in duplicate_slugs(issues)
    ]


def count(notes: list[Note]) -> tuple[int, int]:
    """(errors, warnings) in `notes`."""
    errors = sum(1 for note in notes if note.severity == "error")
    return errors, len(notes) - errors
