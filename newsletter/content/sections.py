"""Group an edition's stories into sections, keep story slugs and the page's anchors unique, and
note the language of section titles a translation leaves untranslated."""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.content.metadata import SectionSpec
from newsletter.content.slugs import make_slug
from newsletter.errors import ContentError
from newsletter.model import Edition, Section, Story

PAGE_IDS = frozenset({"content"})
"""Ids the themes' pages give their own elements (`<main id="content">`, the skip link's target):
no section or story takes one."""
FOOTNOTE_ID = re.compile(r"fn-\d+|fnref-\d+(-\d+)?")
"""The ids of footnotes and their references in web pages (render/footnotes.py)."""


@dataclass
class TranslatedSpec(SectionSpec):
    """A section of a translation, with the language of its title and intro where the
    translation leaves the original's (None: translated)."""

    title_locale: str | None = None
    intro_locale: str | None = None


def group_stories(
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
        if isinstance(spec, TranslatedSpec):
            sections[ident].title_locale = spec.title_locale
            sections[ident].intro_locale = spec.intro_locale if spec.intro else None
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
                sections[found] = Section(id=found, title=story.section, title_locale=story.locale)
                lookup[story.section] = found
            ident = story.section = found
        first_seen.setdefault(ident, position)
        sections[ident].stories.append(story)
    groups = [section for section in sections.values() if section.stories]
    if by_appearance:
        groups.sort(key=lambda section: first_seen[section.id])
    unique_anchors(groups)
    return groups


def unique_anchors(sections: list[Section]) -> None:
    """Give every section and story an id of its own on the page: one already taken (a story
    slugged like a section, a section titled "Content") is numbered, `news-2`; one shaped like a
    footnote's gets what it is in front, `story-fn-1`.

    Sections keep theirs first, then stories in order: an id nothing else uses never changes.
    """
    titled = [section for section in sections if section.title]
    stories = [story for section in sections for story in section.stories]
    wanted = {section.id for section in titled} | {story.slug for story in stories}
    taken: set[str] = set()

    def claim(ident: str, kind: str) -> str:
        if FOOTNOTE_ID.fullmatch(ident) or FOOTNOTE_ID.fullmatch(f"{ident}-2"):
            ident = (
                f"{kind}-{ident}"  # fn-1, and fn or fnref-1 whose numbers would be a footnote's.
            )
        if ident in taken or ident in PAGE_IDS:
            number = 2
            while f"{ident}-{number}" in taken | wanted:
                number += 1
            ident = f"{ident}-{number}"
        taken.add(ident)
        return ident

    for section in titled:
        section.id = claim(section.id, "section")
        for story in section.stories:
            story.section = section.id
    for story in stories:
        story.slug = claim(story.slug, "story")


def translated_specs(main: Edition, translated: list[SectionSpec] | None) -> list[SectionSpec]:
    """The original's sections with titles and intros from a translation (by id, else by
    position); what the translation leaves keeps the original's language."""
    specs = [
        TranslatedSpec(
            id=s.id,
            title=s.title or "",
            intro=s.intro,
            title_locale=main.locale,
            intro_locale=main.locale,
        )
        for s in main.named_sections
    ]
    by_id = {spec.id: spec for spec in translated or [] if spec.id}
    for index, spec in enumerate(specs):
        if by_id:
            match = by_id.get(spec.id or "")
        else:
            match = translated[index] if translated and index < len(translated) else None
        if match is not None:
            spec.title, spec.title_locale = match.title, None
            if match.intro:
                spec.intro, spec.intro_locale = match.intro, None
    return [*specs]


def dedupe_slugs(stories: list[Story], strict: bool = False) -> None:
    """Make story slugs unique: numbered (`name-2`), or ContentError when `strict`."""
    seen: dict[str, Story] = {}
    for story in stories:
        if story.slug in seen:
            if strict:
                raise ContentError(
                    f"story slug {story.slug!r} is also used by {seen[story.slug].source.name}",
                    path=story.source,
                    line=story.meta_lines.get("slug", 1),
                    hint="give one of them another `slug:` in its front matter, or rename the file",
                )
            number = 2
            while f"{story.slug}-{number}" in seen:
                number += 1
            story.slug = f"{story.slug}-{number}"
        seen[story.slug] = story
