"""Single-file issues: one Markdown file (plus `NAME.LOCALE.md` translations beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from newsletter.content.documents import Document, DocumentReader, inherit
from newsletter.content.metadata import SectionSpec
from newsletter.content.sections import dedupe_slugs, group_stories
from newsletter.content.slugs import make_slug
from newsletter.content.source import split_name, translation_candidates
from newsletter.content.structure import StoryLayout, read_layout
from newsletter.model import Edition, Issue, Note, Section, Story


def load_single_file(reader: DocumentReader, path: Path, names: Sequence[str]) -> Issue:
    """The issue written in `path`; naming a translation loads the original with it.

    `names` are the file names in the issue's folder, sorted: where its translations are found.
    """
    locales = reader.config.locales
    name = split_name(path, locales)
    siblings = translation_candidates(path, name.base, names)
    if name.locale is not None:
        original = next((p for p in siblings if split_name(p, locales).locale is None), None)
        if original is not None:
            return load_single_file(reader, original, names)
    doc = reader.read(path, "issue", None)
    main = _edition(reader, doc, None)
    editions = {main.locale: main}
    for sibling in siblings:
        locale = split_name(sibling, locales).locale
        if locale is not None:
            edition = _edition(reader, reader.read(sibling, "issue", locale), main)
            editions.setdefault(edition.locale, edition)
    ordered = {main.locale: main, **{k: v for k, v in sorted(editions.items()) if k != main.locale}}
    return Issue(
        slug=make_slug(doc.meta.slug or name.base),
        path=path,
        default_locale=main.locale,
        editions=ordered,
    )


def _edition(reader: DocumentReader, doc: Document, original: Edition | None) -> Edition:
    """One file's edition; a translation takes the original's section ids and story slugs."""
    layout = read_layout(
        reader.parser, doc.front.body, doc.front.body_line, has_title=bool(doc.meta.title)
    )
    sections = [
        Section(id=make_slug(s.title) or f"section-{i + 1}", title=s.title, intro=s.intro)
        for i, s in enumerate(layout.sections)
    ]
    if original is not None and len(original.named_sections) == len(sections):
        for section, theirs in zip(sections, original.named_sections, strict=True):
            section.id = theirs.id
    slugs = _matching_slugs(original, layout.stories) if original is not None else {}
    stories = [
        Story(
            slug=slugs.get(index) or make_slug(part.title or "", 60) or f"story-{index + 1}",
            title=part.title,
            body=part.body,
            locale=doc.locale,
            source=doc.path,
            line=part.line,
            url=part.url,
            section=sections[part.section].id if part.section is not None else None,
        )
        for index, part in enumerate(layout.stories)
    ]
    dedupe_slugs(stories)
    specs = [SectionSpec(id=s.id, title=s.title or "", intro=s.intro) for s in sections]
    edition = reader.edition(doc, group_stories(stories, specs, by_appearance=True), layout)
    for label, line in layout.unreferenced_footnotes:
        edition.notes.append(
            Note(
                "warning",
                f"footnote [^{label}] is never referenced",
                doc.path,
                line + doc.front.body_line,
                f"cite it with [^{label}] in a story, or delete it",
                code="footnote",
            )
        )
    if original is not None:
        inherit(edition, original)
        unmatched = [story for index, story in enumerate(stories) if index not in slugs]
        if unmatched:
            titles = ", ".join(repr(story.title) for story in unmatched[:3])
            edition.notes.append(
                Note(
                    "warning",
                    f"{len(unmatched)} {edition.locale} stories match no story of the original ({titles})",
                    doc.path,
                    unmatched[0].line,
                    "give the translation the same sections and stories, in the same order",
                    code="unmatched-translation",
                )
            )
    return edition


def _matching_slugs(original: Edition, parts: list[StoryLayout]) -> dict[int, str]:
    """Translated story index -> the original's slug, matched by position.

    Over the whole issue when the counts agree, else within each section whose story count
    agrees: a translation that drops a story cannot say which one it dropped.
    """
    if len(parts) == len(original.stories):
        return {index: story.slug for index, story in enumerate(original.stories)}
    positions = {section.id: index for index, section in enumerate(original.named_sections)}
    theirs: dict[int | None, list[str]] = {}
    for story in original.stories:
        theirs.setdefault(positions.get(story.section or ""), []).append(story.slug)
    mine: dict[int | None, list[int]] = {}
    for index, part in enumerate(parts):
        mine.setdefault(part.section, []).append(index)
    matched: dict[int, str] = {}
    for key, indexes in mine.items():
        if len(indexes) == len(theirs.get(key, [])):
            matched.update(zip(indexes, theirs[key], strict=True))
    return matched
