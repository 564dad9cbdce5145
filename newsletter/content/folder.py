"""Issue folders: `issue.md`, `stories/*.md`, and their `NAME.LOCALE.md` translations."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from newsletter.content.documents import Document, DocumentReader, inherit, strip_number
from newsletter.content.offers import note_held_back
from newsletter.content.sections import dedupe_slugs, group_stories, translated_specs
from newsletter.content.slugs import make_slug
from newsletter.content.source import ISSUE_FILE, STORIES_DIR, is_markdown, split_name
from newsletter.content.structure import Layout
from newsletter.errors import ContentError
from newsletter.model import Edition, Issue, Note, Story

STORIES_MARKER = "<!-- stories -->"

StoryFiles = dict[str, dict[str | None, Path]]
"""Story base name -> locale (None for the original) -> file."""


@dataclass
class _Original:
    """What every edition of a folder issue is built against: the original language's parts."""

    doc: Document
    edition: Edition | None
    order: list[str]
    files: StoryFiles
    stories: dict[str, Story]


def load_folder(reader: DocumentReader, folder: Path) -> Issue:
    """The issue in `folder`, one edition per locale that has an issue file or a translated story."""
    locales = reader.config.locales
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
    doc = reader.read(issue_files[None], "issue", None)
    files = _story_files(folder / STORIES_DIR, locales)
    order, unlisted = _story_order(doc, files)
    stories = {
        key: reader.story(reader.read(files[key][None], "story", None), key)
        for key in order
        if None in files[key]
    }
    if not doc.meta.locale:
        # The lead alone may be too short to tell the language: let the stories vote too.
        doc.locale = reader.detect(
            doc.front.body + "\n".join(story.body for story in stories.values())
        )
    for story in stories.values():
        story.locale = doc.locale
    original = _Original(doc=doc, edition=None, order=order, files=files, stories=stories)
    main = _edition(reader, original, doc.locale, doc)
    main.notes.extend(unlisted)
    original.edition = main
    editions = {main.locale: main}
    translated = {loc for loc in issue_files if loc} | {
        loc for by_locale in files.values() for loc in by_locale if loc
    }
    for locale in sorted(
        translated,
        key=lambda loc: (loc not in locales, locales.index(loc) if loc in locales else 0, loc),
    ):
        if locale != main.locale:
            path = issue_files.get(locale)
            editions[locale] = _edition(
                reader, original, locale, reader.read(path, "issue", locale) if path else None
            )
    issue = Issue(
        slug=make_slug(doc.meta.slug or folder.name),
        path=folder,
        default_locale=main.locale,
        editions=editions,
    )
    note_held_back(issue, reader.config)
    return issue


def _edition(
    reader: DocumentReader, original: _Original, locale: str, doc: Document | None
) -> Edition:
    """The edition in `locale`; `doc` is its issue file (None when only stories are translated)."""
    main = original.edition
    notes: list[Note] = []
    stories: list[Story] = []
    untranslated: list[Story] = []
    for key in original.order:
        path = original.files[key].get(locale)
        theirs = original.stories.get(key)
        if path is not None and main is not None:
            story = reader.story(reader.read(path, "story", locale), key)
            if theirs is not None:
                story.slug, story.section = theirs.slug, story.section or theirs.section
                story.url, story.image = story.url or theirs.url, story.image or theirs.image
            stories.append(story)
        elif theirs is not None and main is not None:
            untranslated.append(theirs)
            stories.append(replace(theirs, fallback=True))
        elif theirs is not None:
            stories.append(theirs)
        else:
            only = next(iter(original.files[key].values()))
            notes.append(
                Note(
                    "warning",
                    f"story exists only in translation; it is left out of the {locale} edition",
                    only,
                    1,
                    f"add {key}.md in the issue's original language",
                    code="translation",
                )
            )
    if untranslated:
        notes.append(_untranslated_note(untranslated, len(stories), locale))
    dedupe_slugs(stories, strict=True)
    source = doc or original.doc
    specs = source.meta.sections or []
    if main is not None:
        specs = translated_specs(main, doc.meta.sections if doc else None)
    lead, _, closing = source.front.body.partition(STORIES_MARKER)
    edition = reader.edition(
        source,
        group_stories(stories, specs),
        Layout(lead=lead.strip("\n"), closing=closing.strip("\n")),
    )
    edition.locale = locale
    if main is not None:
        inherit(edition, main)
    if main is not None and doc is None:
        notes.insert(
            0,
            Note(
                "warning",
                f"issue has no {locale} translation of {ISSUE_FILE}.md; its title and lead are in {main.locale}",
                source.path,
                1,
                f"add {ISSUE_FILE}.{locale}.md",
                code="translation",
            ),
        )
    edition.notes.extend(notes)
    return edition


def _untranslated_note(untranslated: list[Story], total: int, locale: str) -> Note:
    names = [story.source.stem for story in untranslated]
    listed = ", ".join(f"{name}.{locale}.md" for name in names[:3])
    if len(names) > 3:
        listed += f" and {len(names) - 3} more"
    return Note(
        "warning",
        f"{len(names)} of {total} stories have no {locale} translation; the {untranslated[0].locale} text is used",
        untranslated[0].source.parent,
        None,
        f"add {listed} in {STORIES_DIR}/",
        code="untranslated",
    )


def _story_order(doc: Document, files: StoryFiles) -> tuple[list[str], list[Note]]:
    """Story keys in publication order, and notes on story files the order leaves out."""
    listed = doc.meta.stories
    if listed is None:
        return sorted(files), []
    keys = []
    by_slug = {strip_number(key): key for key in files}
    for entry in listed:
        name = Path(entry).name.removesuffix(".md")
        key = name if name in files else by_slug.get(strip_number(name))
        if key is None:
            raise ContentError(
                f"stories: lists {entry!r} but {STORIES_DIR}/{name}.md does not exist",
                path=doc.path,
                line=doc.meta.lines.get("stories", 1),
                hint=f"create {STORIES_DIR}/{name}.md or remove it from the list",
            )
        keys.append(key)
    unlisted = [
        Note(
            "warning",
            "story is not in the issue's stories: list, so it is not published",
            next(iter(files[key].values())),
            1,
            f"add {key} to stories: in {ISSUE_FILE}.md, or delete the file",
            code="unlisted",
        )
        for key in sorted(set(files) - set(keys))
    ]
    return keys, unlisted


def _story_files(folder: Path, locales: list[str]) -> StoryFiles:
    files: StoryFiles = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_markdown(path):
                name = split_name(path, locales)
                files.setdefault(name.base, {})[name.locale] = path
    return files
