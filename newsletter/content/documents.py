"""Read one Markdown file into front matter, typed metadata and a locale; build an Edition from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from markdown_it import MarkdownIt

from newsletter.config import Config
from newsletter.content.frontmatter import FrontMatter, split_front_matter
from newsletter.content.language import detect_language
from newsletter.content.metadata import Metadata, normalize_metadata
from newsletter.content.slugs import make_slug
from newsletter.content.source import ISSUE_FILE, read_source
from newsletter.content.structure import Layout
from newsletter.errors import ContentError
from newsletter.locales import match_locale
from newsletter.model import Edition, Note, Section, Story

TITLE_HINT = "add `title: ...` to the front matter (or pass --title to newsletter import)"
_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass
class Document:
    """One parsed Markdown file: front matter, normalized metadata, body, and its locale."""

    path: Path
    front: FrontMatter
    meta: Metadata
    locale: str


class DocumentReader:
    """Reads content files with one configuration and one Markdown parser."""

    def __init__(self, config: Config, parser: MarkdownIt) -> None:
        self.config = config
        self.parser = parser
        self.timezone = ZoneInfo(config.timezone)

    def read(self, path: Path, kind: str, locale: str | None) -> Document:
        """The file at `path` as an issue or story document; `locale` comes from its file name."""
        text = read_source(path)
        front = split_front_matter(text, path)
        meta = normalize_metadata(
            front.meta, path, front.key_lines, self.timezone, self.config.locales, kind
        )
        if locale and meta.locale and meta.locale != locale:
            raise ContentError(
                f"locale: says {meta.locale} but the file name says {locale}",
                path=path,
                line=meta.lines.get("locale", 1),
                hint="make the front matter and the .LOCALE.md suffix agree",
            )
        resolved = locale or meta.locale or self.detect(front.body)
        return Document(path=path, front=front, meta=meta, locale=resolved)

    def detect(self, text: str) -> str:
        """The configured locale the script of `text` suggests, else the default locale."""
        language = detect_language(text)
        if language is None:
            return self.config.default_locale
        return match_locale(language, self.config.locales)

    def edition(self, doc: Document, sections: list[Section], layout: Layout) -> Edition:
        """The edition described by `doc`'s metadata with the given sections and text parts."""
        meta = doc.meta
        edition = Edition(
            locale=doc.locale,
            source=doc.path,
            title=meta.title or layout.title,
            stories=[story for section in sections for story in section.stories],
            sections=sections,
            lead=layout.lead,
            closing=layout.closing,
            footer=meta.footer or layout.footer,
            subtitle=meta.subtitle,
            preheader=meta.preheader,
            date=meta.date or self._date_from_name(doc.path),
            updated=meta.updated,
            send_at=meta.send_at,
            authors=meta.authors,
            image=meta.image,
            image_alt=meta.image_alt,
            cta=meta.cta,
            tags=meta.tags,
            number=meta.number,
            status=meta.status or "draft",
            own_status=meta.status,
            slug=meta.slug,
            title_line=meta.lines.get("title") or layout.title_line or 1,
            meta_lines=meta.lines,
            extra=meta.extra,
            parsed=layout.parsed,
        )
        for line, message, hint in doc.front.warnings:
            edition.notes.append(
                Note("warning", message, doc.path, line, hint, code="front-matter")
            )
        if not edition.title:
            edition.notes.append(
                Note("error", "issue has no title", doc.path, 1, TITLE_HINT, code="missing-title")
            )
        return edition

    def story(self, doc: Document, name: str) -> Story:
        """The story a story file (base name `name`) describes; ContentError when it has no title."""
        meta = doc.meta
        if not meta.title:
            raise ContentError(
                "story has no title",
                path=doc.path,
                line=1,
                hint="add `title: ...` to the story's front matter",
            )
        body = doc.front.body.lstrip("\n")
        return Story(
            slug=make_slug(meta.slug) if meta.slug else make_story_slug(name),
            title=meta.title,
            body=body.rstrip("\n"),
            locale=doc.locale,
            source=doc.path,
            line=doc.front.body_line
            + doc.front.body.count("\n", 0, len(doc.front.body) - len(body)),
            url=meta.url,
            image=meta.image,
            image_alt=meta.image_alt,
            summary=meta.summary,
            section=meta.section,
            authors=meta.authors,
            tags=meta.tags,
            extra=meta.extra,
            meta_lines=meta.lines,
        )

    def _date_from_name(self, path: Path) -> datetime | None:
        """Jekyll's convention: a `YYYY-MM-DD-` prefix on the file (or issue folder) name."""
        name = path.parent.name if path.name.startswith(ISSUE_FILE + ".") else path.name
        match = _DATE_PREFIX.match(name)
        if not match:
            return None
        try:
            day = datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
        return datetime.combine(day.date(), time(), tzinfo=self.timezone)


def make_story_slug(name: str) -> str:
    """A story's slug from its file name, without the `NN-` order prefix."""
    base = strip_number(name)
    return make_slug(base) or base


def strip_number(name: str) -> str:
    """`01-sora` -> `sora`."""
    return re.sub(r"^\d+[-_]", "", name)


def inherit(edition: Edition, main: Edition) -> None:
    """Fields a translation does not restate come from the original edition."""
    for name in ("date", "updated", "send_at", "image", "image_alt", "number"):
        if getattr(edition, name) is None:
            setattr(edition, name, getattr(main, name))
    for name in ("authors", "tags"):
        if not getattr(edition, name):
            setattr(edition, name, list(getattr(main, name)))
    if edition.own_status is None:  # A translation that says `status: draft` stays one.
        edition.status = main.status
    edition.extra = {**main.extra, **edition.extra}


def status_said(edition: Edition) -> str:
    """What the edition's file says of its status, as written (`status: Draft`, `draft: true`),
    or that it says nothing."""
    line = edition.meta_lines.get("status")
    if line and edition.own_status:
        try:
            return edition.source.read_text(encoding="utf-8").splitlines()[line - 1].strip()
        except (OSError, UnicodeDecodeError, IndexError):
            return f"status: {edition.own_status}"
    return "no status, so a draft"
