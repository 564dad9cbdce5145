"""Serialize issues and stories to Markdown files with YAML front matter."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from newsletter.model import Edition, Section, Story


def front_matter_document(meta: dict[str, Any], body: str, timezone: ZoneInfo | None = None) -> str:
    """A Markdown document: YAML front matter (empty values left out), a blank line, the body.

    Datetimes at midnight in `timezone` (the configured one) are written as plain dates.
    """
    kept = {
        key: _plain(value, timezone)
        for key, value in meta.items()
        if value not in (None, "", [], {})
    }
    head = yaml.safe_dump(
        kept, allow_unicode=True, sort_keys=False, width=100_000, default_flow_style=False
    )
    body = body.strip("\n")
    return f"---\n{head}---\n\n{body}\n" if body.strip() else f"---\n{head}---\n"


def issue_meta(
    edition: Edition, sections: list[Section] | None, story_names: list[str] | None
) -> dict[str, Any]:
    """The front matter of an issue file, canonical keys first, then the unknown keys as they were."""
    meta: dict[str, Any] = {
        "title": edition.title,
        "subtitle": edition.subtitle,
        "date": edition.date,
        "updated": edition.updated,
        "send_at": edition.send_at,
        "authors": edition.authors,
        "preheader": edition.preheader,
        "image": edition.image,
        "image_alt": edition.image_alt,
        "cta": (
            {"text": edition.cta.text, "url": edition.cta.url}
            if edition.cta.url
            else edition.cta.text
        )
        if edition.cta
        else None,
        "tags": edition.tags,
        "number": edition.number,
        "status": edition.status if edition.status != "draft" else None,
        "lang": edition.locale,
        "stories": story_names,
        "sections": [_section_entry(section) for section in sections] if sections else None,
        "footer": edition.footer,
    }
    for key, value in edition.extra.items():
        meta.setdefault(key, value)
    return meta


def story_meta(story: Story, section_title: str | None) -> dict[str, Any]:
    """The front matter of a story file."""
    meta: dict[str, Any] = {
        "title": story.title,
        "url": story.url,
        "section": section_title,
        "image": story.image,
        "image_alt": story.image_alt,
        "summary": story.summary,
        "authors": story.authors,
        "tags": story.tags,
    }
    for key, value in story.extra.items():
        meta.setdefault(key, value)
    return meta


def _section_entry(section: Section) -> dict[str, str]:
    entry = {"id": section.id, "title": section.title or ""}
    if section.intro:
        entry["intro"] = section.intro
    return entry


def _plain(value: Any, timezone: ZoneInfo | None) -> Any:
    """Midnight in the configured zone is written as a plain date; other datetimes in ISO 8601."""
    if isinstance(value, datetime):
        zone = getattr(value.tzinfo, "key", None)
        if value.time() == time() and timezone is not None and zone == timezone.key:
            return value.date()
        return value.isoformat()
    return value
