"""Normalize front matter: known keys and their aliases to typed fields, unknown keys kept.

Hugo, Jekyll, Zola, Pelican and hand-written files name the same things differently
(`heroImage`, `cover`, `publish_date`, `lastmod`, `[extra]`, `Tags: a, b`). This module maps
them onto one vocabulary and checks each value's type, naming the key's line on error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from newsletter.errors import ContentError
from newsletter.locales import match_locale
from newsletter.model import ISSUE_STATUSES, Link

# Canonical key -> the spellings that mean it, most specific first. Keys are compared after
# folding case, dashes and camelCase to snake_case (`heroImage` -> `hero_image`).
_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "subtitle": ("subtitle", "sub_title", "tagline"),
    "preheader": ("preheader", "description", "summary", "excerpt", "abstract"),
    "date": (
        "date",
        "publish_date",
        "publishdate",
        "published_at",
        "pub_date",
        "pubdate",
        "created_date",
        "created",
        "created_at",
    ),
    "updated": ("updated", "lastmod", "last_modified", "modified", "updated_at"),
    "send_at": ("send_at", "scheduled_at"),
    "authors": ("authors", "author"),
    "image": (
        "image",
        "hero_image",
        "hero",
        "cover",
        "cover_image",
        "featured_image",
        "feature_image",
        "og_image",
        "images",
        "thumbnail",
    ),
    "image_alt": ("image_alt", "hero_image_alt", "cover_alt", "cover_image_alt"),
    "cta": ("cta", "call_to_action"),
    "tags": ("tags", "tag", "categories", "category"),
    "slug": ("slug",),
    "locale": ("locale", "lang", "language"),
    "number": ("number", "issue_number", "issue"),
    "status": ("status", "draft"),
    "footer": ("footer",),
    "stories": ("stories",),
    "sections": ("sections",),
}
# Stories have a link and a section, and their `summary` is a summary, not a preheader.
_STORY_ALIASES: dict[str, tuple[str, ...]] = {
    **{
        key: spellings
        for key, spellings in _ALIASES.items()
        if key not in ("preheader", "stories", "sections", "footer", "number", "send_at")
    },
    "summary": ("summary", "description", "excerpt", "abstract"),
    "url": ("url", "link", "href", "source_url", "external_url"),
    "section": ("section",),
}
# Keys whose values are all merged rather than the first one found.
_MERGED = frozenset({"tags"})
# Tables whose keys are read as if they were top-level (Zola's [extra] and [taxonomies], Hugo's params).
_NESTED_TABLES = ("extra", "taxonomies", "params")
_SPACED_OFFSET = re.compile(r"(?<=\d)\s+([+-])(\d{2}):?(\d{2})$")


@dataclass
class SectionSpec:
    """A section as declared in an issue's `sections:` list."""

    id: str | None
    title: str
    intro: str = ""


@dataclass
class Metadata:
    """Front matter with every known key typed and every unknown key kept in `extra`."""

    title: str | None = None
    subtitle: str | None = None
    preheader: str | None = None
    summary: str | None = None
    date: datetime | None = None
    updated: datetime | None = None
    send_at: datetime | None = None
    authors: list[str] = field(default_factory=list)
    image: str | None = None
    image_alt: str | None = None
    cta: Link | None = None
    tags: list[str] = field(default_factory=list)
    slug: str | None = None
    locale: str | None = None
    number: int | None = None
    status: str | None = None
    url: str | None = None
    section: str | None = None
    footer: str | None = None
    stories: list[str] | None = None
    sections: list[SectionSpec] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    """Line in the file of each known key, by its canonical name."""


def normalize_metadata(
    meta: dict[str, Any],
    path: Path,
    key_lines: dict[str, int],
    timezone: ZoneInfo,
    locales: Sequence[str],
    kind: str = "issue",
) -> Metadata:
    """Typed metadata from raw front matter; ContentError naming the key's line on a bad value."""
    aliases = _ALIASES if kind == "issue" else _STORY_ALIASES
    flat = _flatten(meta)
    folded = {_fold(key): key for key in flat}
    result = Metadata()
    used: set[str] = set()
    reader = _Reader(path, key_lines, timezone, locales)
    for canonical, spellings in aliases.items():
        present = [folded[s] for s in spellings if s in folded]
        if not present:
            continue
        chosen = present if canonical in _MERGED else present[:1]
        used.update(chosen)
        if chosen[0] in key_lines:
            result.lines[canonical] = key_lines[chosen[0]]
        values = [reader.read(canonical, key, flat[key]) for key in chosen]
        if canonical in _MERGED:
            setattr(result, canonical, _unique(item for value in values for item in value))
        elif values[0] is not None:
            setattr(result, canonical, values[0])
    for key, value in flat.items():
        if key not in used:
            result.extra[key] = value
    return result


class _Reader:
    """Converts one raw value to the type of its canonical key."""

    def __init__(
        self, path: Path, key_lines: dict[str, int], timezone: ZoneInfo, locales: Sequence[str]
    ) -> None:
        self.path = path
        self.key_lines = key_lines
        self.timezone = timezone
        self.locales = locales

    def read(self, canonical: str, key: str, value: Any) -> Any:
        if canonical in ("date", "updated", "send_at"):
            return self.datetime(key, value)
        if canonical == "authors":
            return self.strings(key, value, split=key.lower() != "author")
        if canonical == "tags":
            return self.strings(key, value, split=True)
        if canonical == "image":
            return self.image(key, value)
        if canonical == "cta":
            return self.cta(key, value)
        if canonical == "locale":
            return self.locale(key, value)
        if canonical == "number":
            return self.number(key, value)
        if canonical == "status":
            return self.status(key, value)
        if canonical == "stories":
            return self.strings(key, value, split=False)
        if canonical == "sections":
            return self.sections(key, value)
        return self.text(key, value)

    def fail(self, key: str, message: str, hint: str) -> ContentError:
        return ContentError(
            f"{key}: {message}", path=self.path, line=self.key_lines.get(key, 1), hint=hint
        )

    def text(self, key: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(
                key, f"must be text, not {_kind(value)}", f"write {key}: followed by plain text"
            )
        return str(value).strip() or None

    def datetime(self, key: str, value: Any) -> datetime | None:
        parsed = parse_datetime(value, self.timezone)
        if parsed is None and value not in (None, ""):
            raise self.fail(
                key,
                f"{value!r} is not a date",
                f"write {key}: 2024-03-10, or 2024-03-10 08:00 with a time, optionally +01:00",
            )
        return parsed

    def strings(self, key: str, value: Any, split: bool) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            parts = re.split(r"\s*[,;]\s*", value) if split else [value]
            return [part.strip() for part in parts if part.strip()]
        if isinstance(value, list):
            names = []
            for item in value:
                if isinstance(item, dict) and "name" in item:
                    item = item["name"]
                if isinstance(item, dict | list) or item is None:
                    raise self.fail(key, f"lists {_kind(item)}", f"write {key} as a list of names")
                names.append(str(item).strip())
            return [name for name in names if name]
        if isinstance(value, dict) and "name" in value:
            return [str(value["name"])]
        raise self.fail(key, f"must be text or a list, not {_kind(value)}", f"write {key}: [a, b]")

    def image(self, key: str, value: Any) -> str | None:
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, dict):
            value = value.get("src") or value.get("url") or value.get("path")
        return self.text(key, value)

    def cta(self, key: str, value: Any) -> Link | None:
        if isinstance(value, dict):
            text = value.get("text") or value.get("label") or value.get("title")
            url = value.get("url") or value.get("href") or value.get("link")
            if not isinstance(text, str) or (url is not None and not isinstance(url, str)):
                raise self.fail(
                    key,
                    "needs text and an optional url",
                    "write cta: {text: '...', url: 'https://...'}",
                )
            return Link(text=text.strip(), url=url)
        text = self.text(key, value)
        return Link(text=text) if text else None

    def locale(self, key: str, value: Any) -> str | None:
        text = self.text(key, value)
        if text is None:
            return None
        try:
            return match_locale(text, self.locales)
        except ValueError as error:
            raise self.fail(
                key, str(error), "use a locale identifier such as en, zh, pt_BR or ar"
            ) from error

    def number(self, key: str, value: Any) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("#").isdigit():
            return int(value.strip().lstrip("#"))
        raise self.fail(key, f"{value!r} is not a whole number", f"write {key}: 42")

    def status(self, key: str, value: Any) -> str | None:
        if key.lower() == "draft":
            if not isinstance(value, bool):
                raise self.fail(
                    key, f"{value!r} is not true or false", "write draft: true or draft: false"
                )
            return "draft" if value else None
        text = (self.text(key, value) or "").lower()
        if text in ("published", "hidden", "publish", ""):
            return None  # A blog's publication state says nothing about the newsletter send.
        if text not in ISSUE_STATUSES:
            raise self.fail(
                key, f"{value!r} is not a status", "use one of " + ", ".join(ISSUE_STATUSES)
            )
        return text

    def sections(self, key: str, value: Any) -> list[SectionSpec]:
        if not isinstance(value, list):
            raise self.fail(
                key, f"must be a list, not {_kind(value)}", "write sections: [News, Tools]"
            )
        specs = []
        for item in value:
            if isinstance(item, str | int | float) and not isinstance(item, bool):
                specs.append(SectionSpec(id=None, title=str(item)))
            elif isinstance(item, dict) and isinstance(item.get("title"), str):
                ident = item.get("id")
                intro = item.get("intro") or ""
                specs.append(
                    SectionSpec(
                        id=str(ident) if ident else None, title=item["title"], intro=str(intro)
                    )
                )
            else:
                raise self.fail(
                    key,
                    f"lists {_kind(item)}",
                    "write each section as a title or {id: ..., title: ...}",
                )
        return specs


def parse_datetime(value: Any, timezone: ZoneInfo) -> datetime | None:
    """A timezone-aware datetime from a YAML/TOML date or an ISO 8601-like string, else None."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        # Jekyll writes the offset after a space: "2024-05-02 09:30:00 +0200".
        text = _SPACED_OFFSET.sub(r"\1\2:\3", text)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone)


def _flatten(meta: dict[str, Any]) -> dict[str, Any]:
    flat = dict(meta)
    for table in _NESTED_TABLES:
        nested = flat.get(table)
        if isinstance(nested, dict):
            del flat[table]
            for key, value in nested.items():
                flat.setdefault(str(key), value)
    return flat


def _fold(key: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return snake.lower().replace("-", "_").replace(" ", "_")


def _unique(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    return "nothing" if value is None else type(value).__name__
