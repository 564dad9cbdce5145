"""`newsletter new` and `newsletter story add`: start an issue folder or a story file by hand."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from newsletter.authoring.writer import front_matter_document
from newsletter.content.slugs import make_slug
from newsletter.content.source import ISSUE_FILE, STORIES_DIR
from newsletter.errors import ContentError, NotFoundError
from newsletter.files import atomic_write_text, new_directory

LEAD_PLACEHOLDER = "<!-- Write the lead here: a paragraph or two that opens the issue. -->"
BODY_PLACEHOLDER = "<!-- Write the story here. -->"


def new_issue(
    issues_dir: Path, title: str, date: datetime, slug: str | None = None, locale: str | None = None
) -> Path:
    """Create `issues/DATE-SLUG/` with an issue.md and an empty stories/ folder; return its path."""
    name = make_slug(slug or title, 50)
    if not name:
        raise ContentError(
            f"cannot make a folder name from {title!r}",
            hint="pass --slug with latin letters or digits",
        )
    folder = issues_dir / f"{date:%Y-%m-%d}-{name}"
    meta = {"title": title, "date": date.date(), "status": "draft", "lang": locale}
    with new_directory(folder) as staging:
        (staging / f"{ISSUE_FILE}.md").write_text(
            front_matter_document(meta, LEAD_PLACEHOLDER), encoding="utf-8"
        )
        (staging / STORIES_DIR).mkdir()
    return folder


def add_story(
    issue_dir: Path,
    title: str,
    url: str | None = None,
    section: str | None = None,
    image: str | None = None,
    summary: str | None = None,
) -> Path:
    """Add `stories/NN-SLUG.md` after the last story (and to the `stories:` list if there is one)."""
    issue_file = issue_dir / f"{ISSUE_FILE}.md"
    if not issue_file.is_file():
        raise NotFoundError(
            f"{issue_dir.name} is not an issue folder (no {ISSUE_FILE}.md)",
            path=issue_dir,
            hint="run `newsletter new TITLE` first, or `newsletter import FILE` for a single-file issue",
        )
    stories = issue_dir / STORIES_DIR
    numbers = (
        [int(m.group(1)) for p in stories.glob("*.md") if (m := re.match(r"^(\d+)[-_]", p.name))]
        if stories.is_dir()
        else []
    )
    name = f"{max(numbers, default=0) + 1:02d}-{make_slug(title, 50) or 'story'}"
    path = stories / f"{name}.md"
    if path.exists():
        raise ContentError("already exists", path=path, hint="choose another title")
    meta = {"title": title, "url": url, "section": section, "image": image, "summary": summary}
    listed = _with_listed_story(issue_file, name)
    atomic_write_text(path, front_matter_document(meta, BODY_PLACEHOLDER))
    if listed is not None:
        atomic_write_text(issue_file, listed)
    return path


def _with_listed_story(issue_file: Path, name: str) -> str | None:
    """issue.md's text with `name` appended to its `stories:` list, or None when it has no list."""
    text = issue_file.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    key = next((i for i in range(1, end or 0) if re.match(r"^stories\s*:", lines[i])), None)
    if end is None or key is None:
        return None
    flow = re.match(r"^(stories\s*:\s*\[)(.*)\]\s*$", lines[key])
    if flow:
        items = flow.group(2).strip()
        lines[key] = f"{flow.group(1)}{items + ', ' if items else ''}{name}]"
        return "\n".join(lines)
    last = key
    while last + 1 < end and re.match(r"^\s*-\s", lines[last + 1]):
        last += 1
    if last == key and lines[key].split(":", 1)[1].strip():
        raise ContentError(
            "the stories: list has a form this command cannot extend",
            path=issue_file,
            line=key + 1,
            hint=f"add {name} to it by hand",
        )
    indent = re.match(r"^(\s*)-", lines[last]).group(1) if last > key else "  "  # type: ignore[union-attr]
    lines.insert(last + 1, f"{indent}- {name}")
    return "\n".join(lines)
