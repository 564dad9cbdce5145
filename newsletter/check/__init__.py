"""`newsletter check`: lint issues before they are built or sent.

Checks return Notes (errors and warnings); the loader's own notes (a missing title, a story
falling back to the default language) are part of the report.
"""

from __future__ import annotations

from newsletter.check.content import check_content
from newsletter.model import Issue, Note

__all__ = ["check_content", "check_duplicate_slugs", "count"]


def check_duplicate_slugs(issues: list[Issue]) -> list[Note]:
    """An error for each issue whose slug another issue already uses."""
    seen: dict[str, Issue] = {}
    notes = []
    for issue in issues:
        if issue.slug in seen:
            notes.append(
                Note(
                    "error",
                    f"issue slug {issue.slug!r} is already used by {seen[issue.slug].path.name}",
                    issue.main.source,
                    1,
                    "give one of them another `slug:` in its front matter, or rename it",
                    code="duplicate-slug",
                )
            )
        seen.setdefault(issue.slug, issue)
    return notes


def count(notes: list[Note]) -> tuple[int, int]:
    """(errors, warnings) in `notes`."""
    errors = sum(1 for note in notes if note.severity == "error")
    return errors, len(notes) - errors
