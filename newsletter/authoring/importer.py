"""`newsletter import`: turn a single-file post (Hugo, Jekyll, Zola, Pelican, plain) into an issue folder.

The post is loaded with the same rules as a single-file issue, then written as `issue.md` plus
one file per story; local images are copied into `images/` and their links rewritten. Text is
kept as written: shortcodes stay visible and are reported, comments and raw HTML stay.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from newsletter.authoring.writer import front_matter_document, issue_meta, story_meta
from newsletter.content.folder import STORIES_MARKER
from newsletter.content.loader import IssueLoader
from newsletter.content.shortcodes import Shortcode, find_shortcodes
from newsletter.content.slugs import make_slug
from newsletter.content.source import STORIES_DIR
from newsletter.errors import ContentError
from newsletter.files import new_directory
from newsletter.model import Edition, Issue

IMAGES_DIR = "images"
_MARKDOWN_URL = re.compile(r"(\]\(\s*<?)([^)\s>]+)")
_HTML_URL = re.compile(r"""(\b(?:src|href)\s*=\s*["'])([^"']+)""", re.IGNORECASE)


@dataclass
class ImportResult:
    """What an import wrote and what the editor should look at."""

    path: Path
    issue: Issue
    shortcodes: list[tuple[str, Shortcode]] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def import_post(
    source: Path,
    into: Path,
    loader: IssueLoader,
    title: str | None = None,
    date: datetime | None = None,
    slug: str | None = None,
) -> ImportResult:
    """Write `source` (and its `NAME.LOCALE.md` translations) as an issue folder under `into`."""
    if source.is_dir():
        raise ContentError(
            "is already an issue folder", path=source, hint="import single Markdown files only"
        )
    issue = loader.load(source)
    main = issue.main
    if title:
        main.title = title
    if date:
        main.date = date
        for edition in issue.editions.values():
            edition.date = date
    if not main.title:
        raise ContentError(
            "issue has no title",
            path=source,
            line=1,
            hint='pass --title "..." or add `title: ...` to the front matter',
        )
    name = slug or main.slug or _folder_name(main)
    destination = into / make_slug(name)
    result = ImportResult(path=destination, issue=issue)
    with new_directory(destination) as staging:
        names = [
            f"{index:02d}-{make_slug(story.slug, 50) or 'story'}"
            for index, story in enumerate(main.stories, start=1)
        ]
        by_slug = dict(zip((story.slug for story in main.stories), names, strict=True))
        assets = _Assets(source.parent, staging / IMAGES_DIR, result)
        for edition in issue.editions.values():
            suffix = "" if edition is main else f".{edition.locale}"
            _write_issue_file(staging / f"issue{suffix}.md", edition, assets)
            titles = {section.id: section.title for section in edition.sections}
            for story in edition.stories:
                if story.fallback or story.slug not in by_slug:
                    continue
                body = assets.rewrite(story.body, "../")
                story.image = assets.rewrite_url(story.image, "../")
                meta = story_meta(story, titles.get(story.section or ""))
                path = staging / STORIES_DIR / f"{by_slug[story.slug]}{suffix}.md"
                path.parent.mkdir(exist_ok=True)
                path.write_text(front_matter_document(meta, body), encoding="utf-8")
                result.shortcodes += [
                    (f"{STORIES_DIR}/{path.name}", s) for s in find_shortcodes(loader.parser, body)
                ]
        result.shortcodes[:0] = [
            ("issue.md", s) for s in find_shortcodes(loader.parser, main.lead + "\n" + main.closing)
        ]
    return result


def _write_issue_file(path: Path, edition: Edition, assets: _Assets) -> None:
    edition.image = assets.rewrite_url(edition.image, "")
    sections = [section for section in edition.sections if section.title]
    for section in sections:
        section.intro = assets.rewrite(section.intro, "")
    body = assets.rewrite(edition.lead, "")
    if edition.closing:
        body = f"{body}\n\n{STORIES_MARKER}\n\n{assets.rewrite(edition.closing, '')}"
    edition.footer = assets.rewrite(edition.footer, "")
    meta = issue_meta(edition, sections, None)
    path.write_text(front_matter_document(meta, body), encoding="utf-8")


def _folder_name(edition: Edition) -> str:
    title = make_slug(edition.title or "", 50)
    return f"{edition.date:%Y-%m-%d}-{title}" if edition.date else title


class _Assets:
    """Copies the local files a post links to into the issue's images/ folder."""

    def __init__(self, source_dir: Path, images: Path, result: ImportResult) -> None:
        self.source_dir = source_dir
        self.images = images
        self.result = result
        self.copied: dict[str, str] = {}

    def rewrite(self, text: str, prefix: str) -> str:
        """`text` with each local file link pointing at its copy in images/."""

        def replace(match: re.Match[str]) -> str:
            return match.group(1) + (self.rewrite_url(match.group(2), prefix) or match.group(2))

        return _HTML_URL.sub(replace, _MARKDOWN_URL.sub(replace, text))

    def rewrite_url(self, url: str | None, prefix: str) -> str | None:
        """The new URL of a local file (copied on first use); other URLs unchanged."""
        if not url or "{" in url:
            return url
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("#", "/")):
            return url
        original = self.source_dir / unquote(parts.path)
        if not original.is_file():
            if url not in self.result.missing:
                self.result.missing.append(url)
            return url
        if url not in self.copied:
            name = original.name
            number = 2
            while (self.images / name).exists():
                name = f"{original.stem}-{number}{original.suffix}"
                number += 1
            self.images.mkdir(parents=True, exist_ok=True)
            shutil.copy2(original, self.images / name)
            self.copied[url] = name
            self.result.copied.append(url)
        return f"{prefix}{IMAGES_DIR}/{self.copied[url]}"
