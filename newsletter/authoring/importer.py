"""`newsletter import`: turn a single-file post (Hugo, Jekyll, Zola, Pelican, plain) into an issue folder.

The post is loaded with the same rules as a single-file issue, then written as `issue.md` plus
one file per story; local images are copied into `images/` and their links rewritten. Text is
kept as written: shortcodes stay visible and are reported, comments and raw HTML stay.

Only media files and documents inside the post's site folder are copied (the rule of
content/local_files.py): the nearest folder above the post with a Hugo, Jekyll, Zola or
Pelican configuration or a `.git`, else the post's own folder, or the folder the user names.
Nothing outside it, and no hidden file or folder, is ever read.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from markdown_it import MarkdownIt

from newsletter.authoring.writer import front_matter_document, issue_meta, story_meta
from newsletter.content.folder import STORIES_MARKER
from newsletter.content.loader import IssueLoader
from newsletter.content.local_files import IssueFiles
from newsletter.content.markdown import INLINE_CODE, code_lines
from newsletter.content.shortcodes import Shortcode, find_shortcodes
from newsletter.content.slugs import make_slug
from newsletter.content.source import STORIES_DIR
from newsletter.errors import ContentError
from newsletter.files import new_directory
from newsletter.model import Edition, Issue

IMAGES_DIR = "images"
# A link target after `](`, `]: ` (a reference definition) or `src=`/`href=`, with or without <>.
_MARKDOWN_URL = re.compile(r"(\]\(\s*)(<[^>\n]+>|[^)\s]+)")
_REFERENCE_URL = re.compile(r"^( {0,3}\[(?!\^)[^\]]+\]:\s*)(<[^>\n]+>|\S+)", re.MULTILINE)
_HTML_URL = re.compile(r"""(\b(?:src|href)\s*=\s*["'])([^"']+)""", re.IGNORECASE)


def _outside_code_spans(line: str, change: Callable[[str], str]) -> str:
    """`line` with `change` applied to the parts that are not `code spans`."""
    out, last = [], 0
    for span in INLINE_CODE.finditer(line):
        out += [change(line[last : span.start()]), span.group(0)]
        last = span.end()
    out.append(change(line[last:]))
    return "".join(out)


@dataclass
class ImportResult:
    """What an import wrote and what the editor should look at."""

    path: Path
    issue: Issue
    shortcodes: list[tuple[str, Shortcode]] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """Links to files that were not copied, and why (outside the site, hidden, not media)."""
    site: Path | None = None
    """The folder local files were copied from."""


def import_post(
    source: Path,
    into: Path,
    loader: IssueLoader,
    title: str | None = None,
    date: datetime | None = None,
    slug: str | None = None,
    site: Path | None = None,
) -> ImportResult:
    """Write `source` (and its `NAME.LOCALE.md` translations) as an issue folder under `into`,
    copying the local files it links from inside `site` (default: its site folder)."""
    if source.is_dir():
        raise ContentError(
            "is already an issue folder", path=source, hint="import single Markdown files only"
        )
    issue = loader.load(source)
    main = issue.main
    if title:
        main.title = title
    if date:
        for edition in issue.editions.values():
            edition.date = date
    if not main.title:
        raise ContentError(
            "issue has no title",
            path=source,
            line=1,
            hint='pass --title "..." or add `title: ...` to the front matter',
        )
    _refuse_unmatched_translations(issue)
    destination = into / make_slug(slug or main.slug or _folder_name(main))
    result = ImportResult(path=destination, issue=issue, site=site or site_folder(source))
    with new_directory(destination) as staging:
        writer = _Writer(staging, source, loader, result)
        names = {
            story.slug: f"{index:02d}-{make_slug(story.slug, 50) or 'story'}"
            for index, story in enumerate(main.stories, start=1)
        }
        for edition in issue.editions.values():
            suffix = "" if edition is main else f".{edition.locale}"
            writer.issue_file(f"issue{suffix}.md", edition)
            titles = {section.id: section.title for section in edition.sections}
            for story in edition.stories:
                if not story.fallback:
                    story.image = writer.assets.rewrite_url(story.image, "../")
                    meta = story_meta(story, titles.get(story.section or ""))
                    writer.write(
                        f"{STORIES_DIR}/{names[story.slug]}{suffix}.md",
                        meta,
                        writer.assets.rewrite(story.body, "../"),
                    )
    return result


# What marks the folder of a site: Hugo, Zola, Jekyll and Pelican configurations, a repository.
SITE_MARKERS = (
    "hugo.toml", "hugo.yaml", "hugo.json", "config.toml", "config.yaml", "config.yml",
    "config.json", "_config.yml", "_config.yaml", "pelicanconf.py", ".git",
)  # fmt: skip


def site_folder(post: Path) -> Path:
    """The site a post belongs to: the nearest folder above it with a site configuration or a
    .git, never the home folder or the file system's root; else the post's own folder."""
    folder = post.absolute().parent
    never = {Path.home().resolve(), Path(folder.anchor)}
    for candidate in (folder, *folder.parents):
        if candidate.resolve() in never:
            break
        if any((candidate / marker).exists() for marker in SITE_MARKERS):
            return candidate
    return folder


def _refuse_unmatched_translations(issue: Issue) -> None:
    """A translation whose stories cannot be paired with the original's cannot become story files."""
    for edition in issue.editions.values():
        for note in edition.notes:
            if note.code == "unmatched-translation":
                raise ContentError(note.message, path=note.path, line=note.line, hint=note.hint)


def _folder_name(edition: Edition) -> str:
    title = make_slug(edition.title or "", 50)
    return f"{edition.date:%Y-%m-%d}-{title}" if edition.date else title


class _Writer:
    """Writes the files of the new issue folder and notes the shortcodes they keep."""

    def __init__(
        self, folder: Path, source: Path, loader: IssueLoader, result: ImportResult
    ) -> None:
        self.folder = folder
        self.parser = loader.parser
        self.timezone = loader.reader.timezone
        self.result = result
        self.assets = _Assets(source, folder / IMAGES_DIR, loader.parser, result)

    def issue_file(self, name: str, edition: Edition) -> None:
        edition.image = self.assets.rewrite_url(edition.image, "")
        sections = [section for section in edition.sections if section.title]
        for section in sections:
            section.intro = self.assets.rewrite(section.intro, "")
        edition.footer = self.assets.rewrite(edition.footer, "")
        body = self.assets.rewrite(edition.lead, "")
        if edition.closing:
            body = f"{body}\n\n{STORIES_MARKER}\n\n{self.assets.rewrite(edition.closing, '')}"
        self.write(name, issue_meta(edition, sections, None), body)

    def write(self, name: str, meta: dict[str, Any], body: str) -> None:
        """Write front matter and body to `name`; shortcodes are reported at their lines in it."""
        document = front_matter_document(meta, body, self.timezone)
        path = self.folder / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(document, encoding="utf-8")
        # The whole file is scanned: section intros and the footer live in the front matter.
        self.result.shortcodes += [(name, s) for s in find_shortcodes(self.parser, document)]


class _Assets:
    """Copies the local files a post links to into the issue's images/ folder."""

    def __init__(
        self, source: Path, images: Path, parser: MarkdownIt, result: ImportResult
    ) -> None:
        self.source = source
        self.rule = IssueFiles(source, result.site, "the site folder")
        self.images = images
        self.parser = parser
        self.result = result
        self.copied: dict[str, str] = {}

    def rewrite(self, text: str, prefix: str) -> str:
        """`text` with each local file link pointing at its copy in images/; code is left alone."""

        def replace(match: re.Match[str]) -> str:
            target = match.group(2)
            bracketed = target.startswith("<") and target.endswith(">")
            url = target[1:-1] if bracketed else target
            new = self.rewrite_url(url, prefix) or url
            return match.group(1) + (f"<{new}>" if bracketed else new)

        def rewrite_links(piece: str) -> str:
            for pattern in (_MARKDOWN_URL, _REFERENCE_URL, _HTML_URL):
                piece = pattern.sub(replace, piece)
            return piece

        code = code_lines(self.parser.parse(text))
        lines = text.split("\n")
        return "\n".join(
            line if n in code else _outside_code_spans(line, rewrite_links)
            for n, line in enumerate(lines)
        )

    def rewrite_url(self, url: str | None, prefix: str) -> str | None:
        """The new URL of a local file (copied on first use); other URLs unchanged."""
        if not url or "{" in url:
            return url
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("#", "/")):
            return url
        found = self.rule.find(unquote(parts.path), self.source)
        original = found.path
        refused = found.refused or (
            "not a media file or document" if not found.published and original.exists() else ""
        )
        if refused:
            if (url, refused) not in self.result.refused:
                self.result.refused.append((url, refused))
            return url
        if not found.published:
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
        return f"{prefix}{IMAGES_DIR}/{quote(self.copied[url])}"
