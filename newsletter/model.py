"""The content model: an Issue is published in one Edition per locale, made of Sections of Stories.

These are plain values produced by `newsletter.content` and consumed by rendering, delivery and
the archive. Markdown stays Markdown here; nothing in this module renders or touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ISSUE_STATUSES = ("draft", "ready", "scheduled", "sent")


@dataclass
class Link:
    """A call to action or a link with a label."""

    text: str
    url: str | None = None


@dataclass
class Story:
    """One story: a title, its Markdown body and the link it is about."""

    slug: str
    title: str | None
    body: str
    locale: str
    source: Path
    line: int = 1
    url: str | None = None
    image: str | None = None
    image_alt: str | None = None
    summary: str | None = None
    section: str | None = None
    authors: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    meta_lines: dict[str, int] = field(default_factory=dict)
    """Line in the source file of each front matter key, by canonical name."""
    fallback: bool = False
    """True when this story is the default-locale text standing in for a missing translation."""


@dataclass
class Section:
    """A heading that groups stories; `id` is stable across translations."""

    id: str
    title: str | None
    intro: str = ""
    stories: list[Story] = field(default_factory=list)
    title_locale: str | None = None
    """The language of the title when it is not the edition's: the original's, untranslated."""
    intro_locale: str | None = None
    """The language of the intro when it is not the edition's."""


@dataclass
class Edition:
    """An issue in one locale: its metadata, lead, stories in order, closing text and footer."""

    locale: str
    source: Path
    title: str | None
    stories: list[Story]
    sections: list[Section]
    lead: str = ""
    closing: str = ""
    footer: str = ""
    subtitle: str | None = None
    preheader: str | None = None
    date: datetime | None = None
    updated: datetime | None = None
    send_at: datetime | None = None
    authors: list[str] = field(default_factory=list)
    image: str | None = None
    image_alt: str | None = None
    cta: Link | None = None
    tags: list[str] = field(default_factory=list)
    number: int | None = None
    status: str = "draft"
    own_status: str | None = None
    """The status its own front matter gives (None: none, or one that says nothing, like
    `draft: false`): a translation that says `status: draft` is held back (content/offers.py)."""
    slug: str | None = None
    """The slug the front matter asks for, if any."""
    title_line: int = 1
    meta_lines: dict[str, int] = field(default_factory=dict)
    """Line in the source file of each front matter key, by canonical name."""
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    """Things the loader noticed that `check` reports (a missing title, a fallback story)."""
    parsed: dict[str, list[Any]] = field(default_factory=dict, compare=False, repr=False)
    """Markdown parts by their text (lead, section intros, story bodies), each with the tokens
    (markdown-it's) that the loader's parse of the whole file gave it: those a parse of the
    part alone gives, but for their line maps (content/structure.py). Rendering uses them
    instead of parsing the part again."""

    @property
    def named_sections(self) -> list[Section]:
        """Sections that carry a heading (stories outside any section are left out)."""
        return [section for section in self.sections if section.title]


@dataclass
class Note:
    """Something about the content that is not fatal to loading but that `check` reports."""

    severity: str  # "error" or "warning"
    message: str
    path: Path
    line: int | None = None
    hint: str | None = None
    code: str = ""


@dataclass
class Issue:
    """A newsletter issue: one edition per locale, the default locale's first."""

    slug: str
    path: Path
    default_locale: str
    editions: dict[str, Edition]
    project_root: Path | None = None
    """The project folder it was loaded from: its linked files must lie inside (content/local_files.py)."""

    @property
    def main(self) -> Edition:
        """The edition in the default locale (or the first one when the issue has no such edition)."""
        return self.editions.get(self.default_locale) or next(iter(self.editions.values()))

    @property
    def locales(self) -> list[str]:
        """The locales this issue exists in, the default locale first."""
        return list(self.editions)

    @property
    def is_folder(self) -> bool:
        """Whether the issue is a folder with story files (else a single Markdown file)."""
        return self.path.is_dir()
