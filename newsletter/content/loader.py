"""Load issues from disk: issue folders with story files, or single Markdown files, in every locale.

issues/2024-03-10-ai-week/issue.md        front matter + lead (+ closing after <!-- stories -->)
issues/2024-03-10-ai-week/issue.zh.md     its translation
issues/2024-03-10-ai-week/stories/*.md    one story each, translations as NAME.LOCALE.md
issues/2024-04-tmai.md                    a single file: sections and stories from headings
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from newsletter.config import Config
from newsletter.content.frontmatter import FrontMatter, split_front_matter
from newsletter.content.language import detect_language
from newsletter.content.markdown import markdown_parser
from newsletter.content.metadata import Metadata, SectionSpec, normalize_metadata
from newsletter.content.slugs import make_slug
from newsletter.content.source import (
    ISSUE_FILE,
    STORIES_DIR,
    discover_issue_paths,
    is_markdown,
    read_source,
    split_name,
)
from newsletter.content.structure import Layout, read_layout
from newsletter.errors import ContentError, NotFoundError
from newsletter.locales import match_locale
from newsletter.model import Edition, Issue, Note, Section, Story

STORIES_MARKER = "<!-- stories -->"
_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
TITLE_HINT = "add `title: ...` to the front matter (or pass --title to newsletter import)"


@dataclass
class _Document:
    """One parsed Markdown file: normalized metadata, body, and its locale."""

    path: Path
    front: FrontMatter
    meta: Metadata
    locale: str


class IssueLoader:
    """Reads issues with one configuration and one Markdown parser."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.timezone = ZoneInfo(config.timezone)
        self.parser = markdown_parser()

    def load(self, path: Path) -> Issue:
        """The issue at `path` (a folder or a Markdown file) with all its translations."""
        if path.is_dir():
            return self._folder(path)
        if not path.exists():
            raise NotFoundError(
                "no such issue file or folder",
                path=path,
                hint="run `newsletter list` to see the issues",
            )
        return self._single(path)

    def load_all(self, issues_dir: Path) -> list[Issue]:
        """Every issue in `issues_dir`, in folder order; ContentError on the first broken one or a duplicate slug."""
        issues = [self.load(path) for path in discover_issue_paths(issues_dir, self.config.locales)]
        check_unique_slugs(issues)
        return issues

    # Single-file issues ---------------------------------------------------------------------

    def _single(self, path: Path) -> Issue:
        name = split_name(path, self.config.locales)
        if name.locale is not None:
            base = next(
                (
                    p
                    for p in _siblings(path, name.base)
                    if split_name(p, self.config.locales).locale is None
                ),
                None,
            )
            if base is not None:
                return self._single(base)
        base_doc = self._read(path, "issue", None)
        main = self._single_edition(base_doc, None)
        editions = {main.locale: main}
        for sibling in _siblings(path, name.base):
            locale = split_name(sibling, self.config.locales).locale
            if locale is None or sibling == path:
                continue
            edition = self._single_edition(self._read(sibling, "issue", locale), main)
            editions.setdefault(edition.locale, edition)
        slug = make_slug(base_doc.meta.slug or name.base)
        return Issue(
            slug=slug,
            path=path,
            default_locale=main.locale,
            editions=self._ordered(editions, main.locale),
        )

    def _single_edition(self, doc: _Document, base: Edition | None) -> Edition:
        layout = read_layout(
            self.parser, doc.front.body, doc.front.body_line, has_title=bool(doc.meta.title)
        )
        sections = [
            Section(id=make_slug(s.title) or f"section-{i + 1}", title=s.title, intro=s.intro)
            for i, s in enumerate(layout.sections)
        ]
        if base is not None and len(base.named_sections) == len(sections):
            for section, original in zip(sections, base.named_sections, strict=True):
                section.id = original.id  # A translation's sections are the original's, in order.
        stories = []
        base_slugs = (
            [story.slug for story in base.stories]
            if base is not None and len(base.stories) == len(layout.stories)
            else None
        )
        for index, part in enumerate(layout.stories):
            slug = (
                base_slugs[index]
                if base_slugs
                else make_slug(part.title or "", 60) or f"story-{index + 1}"
            )
            story = Story(
                slug=slug,
                title=part.title,
                body=part.body,
                locale=doc.locale,
                source=doc.path,
                line=part.line,
                url=part.url,
            )
            story.section = sections[part.section].id if part.section is not None else None
            stories.append(story)
        _dedupe_slugs(stories)
        specs = [SectionSpec(id=s.id, title=s.title or "", intro=s.intro) for s in sections]
        edition = self._edition(doc, stories, _group(stories, specs, by_appearance=True), layout)
        for name, line in layout.unreferenced_footnotes:
            edition.notes.append(
                Note(
                    "warning",
                    f"footnote [^{name}] is never referenced",
                    doc.path,
                    line + doc.front.body_line,
                    "cite it with [^" + name + "] in a story, or delete it",
                    code="footnote",
                )
            )
        return edition

    # Issue folders --------------------------------------------------------------------------

    def _folder(self, folder: Path) -> Issue:
        locales = self.config.locales
        issue_files = {
            split_name(p, locales).locale: p
            for p in sorted(folder.iterdir())
            if is_markdown(p) and split_name(p, locales).base == ISSUE_FILE
        }
        if None not in issue_files:
            raise ContentError(
                f"the issue folder has no {ISSUE_FILE}.md",
                path=folder,
                hint=f"create {folder.name}/{ISSUE_FILE}.md with the issue's front matter and lead",
            )
        base_doc = self._read(issue_files[None], "issue", None)
        story_files = _story_files(folder / STORIES_DIR, locales)
        order, unlisted = self._story_order(base_doc, story_files)
        base_stories = {
            key: self._story(story_files[key][None], None)
            for key in order
            if None in story_files[key]
        }
        if not base_doc.meta.locale and not detect_language(base_doc.front.body):
            base_doc.locale = self._detect(
                base_doc.front.body + "\n".join(s.body for s in base_stories.values()), None
            )
        for story in base_stories.values():
            story.locale = base_doc.locale
        main = self._folder_edition(base_doc, order, story_files, base_stories, None)
        main.notes.extend(unlisted)
        editions = {main.locale: main}
        translated = {loc for loc in issue_files if loc} | {
            loc for files in story_files.values() for loc in files if loc
        }
        for locale in sorted(
            translated,
            key=lambda loc: (loc not in locales, locales.index(loc) if loc in locales else 0, loc),
        ):
            if locale == main.locale:
                continue
            path = issue_files.get(locale)
            doc = self._read(path, "issue", locale) if path else None
            editions[locale] = self._folder_edition(
                doc or base_doc, order, story_files, base_stories, (locale, main, doc is None)
            )
        slug = make_slug(base_doc.meta.slug or folder.name)
        return Issue(slug=slug, path=folder, default_locale=main.locale, editions=editions)

    def _folder_edition(
        self,
        doc: _Document,
        order: list[str],
        story_files: dict[str, dict[str | None, Path]],
        base_stories: dict[str, Story],
        translation: tuple[str, Edition, bool] | None,
    ) -> Edition:
        locale = translation[0] if translation else doc.locale
        notes: list[Note] = []
        stories: list[Story] = []
        untranslated: list[Story] = []
        for key in order:
            path = story_files[key].get(locale)
            if path is not None:
                story = self._story(path, locale)
                original = base_stories.get(key)
                if original is not None:
                    story.slug, story.section = original.slug, story.section or original.section
                    story.url, story.image = (
                        story.url or original.url,
                        story.image or original.image,
                    )
                stories.append(story)
            elif key in base_stories and translation:
                untranslated.append(base_stories[key])
                stories.append(_fallback(base_stories[key], locale))
            elif key in base_stories:
                stories.append(base_stories[key])
            else:
                first = next(iter(story_files[key].values()))
                notes.append(
                    Note(
                        "warning",
                        f"story exists only in translation; it is left out of the {locale} edition",
                        first,
                        1,
                        f"add {key}.md in the issue's original language",
                        code="translation",
                    )
                )
        if untranslated:
            names = [story.source.stem for story in untranslated]
            listed = ", ".join(f"{name}.{locale}.md" for name in names[:3]) + (
                f" and {len(names) - 3} more" if len(names) > 3 else ""
            )
            notes.append(
                Note(
                    "warning",
                    f"{len(names)} of {len(stories)} stories have no {locale} translation; the {untranslated[0].locale} text is used",
                    untranslated[0].source.parent,
                    None,
                    f"add {listed} in {STORIES_DIR}/",
                    code="translation",
                )
            )
        _dedupe_slugs(stories, strict=True)
        main = translation[1] if translation else None
        specs = doc.meta.sections or []
        if main is not None:
            specs = _translated_specs(
                main, doc.meta.sections if not translation or not translation[2] else None
            )
        lead, closing = _split_issue_body(doc)
        edition = self._edition(
            doc, stories, _group(stories, specs), Layout(lead=lead, closing=closing)
        )
        edition.locale = locale
        if main is not None:
            _inherit(edition, main)
        if translation and translation[2]:
            notes.insert(
                0,
                Note(
                    "warning",
                    f"issue has no {locale} translation of {ISSUE_FILE}.md; its title and lead are in {main.locale if main else '?'}",
                    doc.path,
                    1,
                    f"add {ISSUE_FILE}.{locale}.md",
                    code="translation",
                ),
            )
        edition.notes.extend(notes)
        return edition

    def _story_order(
        self, doc: _Document, story_files: dict[str, dict[str | None, Path]]
    ) -> tuple[list[str], list[Note]]:
        """Story keys in publication order, and notes on story files the order leaves out."""
        listed = doc.meta.stories
        if listed is None:
            return sorted(story_files), []
        keys = []
        by_slug = {_strip_number(key): key for key in story_files}
        for entry in listed:
            name = Path(entry).name.removesuffix(".md")
            key = name if name in story_files else by_slug.get(_strip_number(name))
            if key is None:
                raise ContentError(
                    f"stories: lists {entry!r} but {STORIES_DIR}/{name}.md does not exist",
                    path=doc.path,
                    line=doc.front.key_lines.get("stories", 1),
                    hint=f"create {STORIES_DIR}/{name}.md or remove it from the list",
                )
            keys.append(key)
        unlisted = [
            Note(
                "warning",
                "story is not in the issue's stories: list, so it is not published",
                next(iter(story_files[key].values())),
                1,
                f"add {key} to stories: in {ISSUE_FILE}.md, or delete the file",
                code="unlisted",
            )
            for key in sorted(set(story_files) - set(keys))
        ]
        return keys, unlisted

    def _story(self, path: Path, locale: str | None) -> Story:
        doc = self._read(path, "story", locale)
        meta = doc.meta
        base = _strip_number(split_name(path, self.config.locales).base)
        story = Story(
            slug=make_slug(meta.slug or base) or base,
            title=meta.title,
            body=doc.front.body.strip("\n"),
            locale=doc.locale,
            source=path,
            line=doc.front.body_line,
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
        if not story.title:
            raise ContentError(
                "story has no title",
                path=path,
                line=1,
                hint="add `title: ...` to the story's front matter",
            )
        return story

    # Shared ---------------------------------------------------------------------------------

    def _read(self, path: Path, kind: str, locale: str | None) -> _Document:
        text = read_source(path)
        front = split_front_matter(text, path)
        meta = normalize_metadata(
            front.meta, path, front.key_lines, self.timezone, self.config.locales, kind
        )
        if locale and meta.locale and meta.locale != locale:
            raise ContentError(
                f"locale: says {meta.locale} but the file name says {locale}",
                path=path,
                line=front.key_lines.get("lang", front.key_lines.get("locale", 1)),
                hint="make the front matter and the .LOCALE.md suffix agree",
            )
        resolved = locale or meta.locale or self._detect(front.body, None)
        return _Document(path=path, front=front, meta=meta, locale=resolved)

    def _detect(self, text: str, fallback: str | None) -> str:
        language = detect_language(text)
        if language is None:
            return fallback or self.config.default_locale
        return match_locale(language, self.config.locales)

    def _edition(
        self, doc: _Document, stories: list[Story], sections: list[Section], layout: Layout
    ) -> Edition:
        meta = doc.meta
        ordered = [story for section in sections for story in section.stories]
        edition = Edition(
            locale=doc.locale,
            source=doc.path,
            title=meta.title or layout.title,
            stories=ordered,
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
            slug=meta.slug,
            title_line=meta.lines.get("title") or layout.title_line or 1,
            meta_lines=meta.lines,
            extra=meta.extra,
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

    def _date_from_name(self, path: Path) -> datetime | None:
        name = path.parent.name if path.name.startswith(ISSUE_FILE + ".") else path.name
        match = _DATE_PREFIX.match(name)
        if not match:
            return None
        try:
            day = datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
        return datetime.combine(day.date(), time(), tzinfo=self.timezone)

    @staticmethod
    def _ordered(editions: dict[str, Edition], first: str) -> dict[str, Edition]:
        return {first: editions[first], **{k: v for k, v in sorted(editions.items()) if k != first}}


def check_unique_slugs(issues: Iterable[Issue]) -> None:
    """ContentError when two issues share a slug (their pages and sends would collide)."""
    seen: dict[str, Issue] = {}
    for issue in issues:
        if issue.slug in seen:
            raise ContentError(
                f"issue slug {issue.slug!r} is already used by {seen[issue.slug].path.name}",
                path=issue.path,
                hint="give one of them another `slug:` in its front matter, or rename it",
            )
        seen[issue.slug] = issue


def _split_issue_body(doc: _Document) -> tuple[str, str]:
    """An issue.md body: the lead, then the closing text after the <!-- stories --> marker."""
    lead, marker, closing = doc.front.body.partition(STORIES_MARKER)
    return lead.strip("\n"), closing.strip("\n") if marker else ""


def _story_files(folder: Path, locales: list[str]) -> dict[str, dict[str | None, Path]]:
    files: dict[str, dict[str | None, Path]] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_markdown(path):
            name = split_name(path, locales)
            files.setdefault(name.base, {})[name.locale] = path
    return files


def _group(
    stories: list[Story], specs: list[SectionSpec], by_appearance: bool = False
) -> list[Section]:
    """Stories grouped by section.

    Folder issues: stories outside any section first, then the declared sections in their
    order, then undeclared ones by first appearance. Single files (`by_appearance`): the order
    the document has.
    """
    sections: dict[str, Section] = {"": Section(id="", title=None)}
    for spec in specs:
        ident = spec.id or make_slug(spec.title) or spec.title
        sections[ident] = Section(id=ident, title=spec.title, intro=spec.intro)
    lookup = {
        key: ident
        for ident, s in sections.items()
        if ident
        for key in (ident, s.title or "", make_slug(s.title or ""))
    }
    first_seen: dict[str, int] = {}
    for position, story in enumerate(stories):
        ident = ""
        if story.section is not None:
            found = lookup.get(story.section) or lookup.get(make_slug(story.section))
            if found is None and specs:
                raise ContentError(
                    f"section {story.section!r} is not in the issue's sections: list",
                    path=story.source,
                    line=story.meta_lines.get("section", 1),
                    hint="use one of: "
                    + ", ".join(s.title or s.id for s in sections.values() if s.title),
                )
            if found is None:
                found = make_slug(story.section) or story.section
                sections[found] = Section(id=found, title=story.section)
                lookup[story.section] = found
            ident = story.section = found
        first_seen.setdefault(ident, position)
        sections[ident].stories.append(story)
    groups = [section for section in sections.values() if section.stories]
    if by_appearance:
        groups.sort(key=lambda section: first_seen[section.id])
    return groups


def _translated_specs(main: Edition, translated: list[SectionSpec] | None) -> list[SectionSpec]:
    """The original's sections with titles and intros from the translation (by id, else by position)."""
    originals = main.named_sections
    specs = [SectionSpec(id=s.id, title=s.title or "", intro=s.intro) for s in originals]
    if not translated:
        return specs
    by_id = {spec.id: spec for spec in translated if spec.id}
    for index, spec in enumerate(specs):
        match = (
            by_id.get(spec.id or "")
            if by_id
            else (translated[index] if index < len(translated) else None)
        )
        if match is not None:
            spec.title = match.title
            spec.intro = match.intro or spec.intro
    return specs


def _inherit(edition: Edition, main: Edition) -> None:
    """Fields a translation does not restate come from the original edition."""
    for name in ("date", "updated", "send_at", "image", "image_alt", "number"):
        if getattr(edition, name) is None:
            setattr(edition, name, getattr(main, name))
    for name in ("authors", "tags"):
        if not getattr(edition, name):
            setattr(edition, name, list(getattr(main, name)))
    if edition.status == "draft":
        edition.status = main.status
    edition.extra = {**main.extra, **edition.extra}


def _fallback(story: Story, locale: str) -> Story:
    return replace(story, fallback=True) if story.locale != locale else story


def _dedupe_slugs(stories: list[Story], strict: bool = False) -> None:
    seen: dict[str, Story] = {}
    for story in stories:
        if story.slug in seen:
            if strict:
                raise ContentError(
                    f"story slug {story.slug!r} is also used by {seen[story.slug].source.name}",
                    path=story.source,
                    line=1,
                    hint="give one of them another `slug:` in its front matter, or rename the file",
                )
            number = 2
            while f"{story.slug}-{number}" in seen:
                number += 1
            story.slug = f"{story.slug}-{number}"
        seen[story.slug] = story


def _strip_number(name: str) -> str:
    return re.sub(r"^\d+[-_]", "", name)


def _siblings(path: Path, base: str) -> list[Path]:
    return (
        sorted(
            p
            for p in path.parent.iterdir()
            if p.is_file() and p.name.startswith(base + ".") and p != path
        )
        if path.parent.is_dir()
        else []
    )
