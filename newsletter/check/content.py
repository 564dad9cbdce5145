"""Checks on an issue's source: metadata, translations, local links and images, shortcodes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt

from newsletter.check.fields import control_characters
from newsletter.content.frontmatter import split_front_matter
from newsletter.content.shortcodes import find_shortcodes
from newsletter.model import Edition, Issue, Note

_HTML_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def check_content(issue: Issue, parser: MarkdownIt) -> list[Note]:
    """Every problem in the issue's files, in all its editions, each reported once."""
    notes: list[Note] = []
    seen: set[tuple[str, Path, int | None, str]] = set()
    for edition in issue.editions.values():
        for note in [*edition.notes, *_edition_checks(edition, parser)]:
            key = (note.message, note.path, note.line, note.code)
            if key not in seen:
                seen.add(key)
                notes.append(note)
    return notes


def _edition_checks(edition: Edition, parser: MarkdownIt) -> Iterator[Note]:
    yield from control_characters(edition)
    for text, source, line in _texts(edition):
        yield from _local_links(parser, text, source, line)
        for shortcode in find_shortcodes(parser, text, line):
            yield Note(
                "warning",
                f"unknown {shortcode.dialect} shortcode {shortcode.text!r}: it is shown as text",
                source,
                shortcode.line,
                "replace it with a Markdown link or image",
                code="shortcode",
            )
    if edition.image:
        line = edition.meta_lines.get("image", 1)
        yield from _local_file(edition.image, edition.source, line, "image")
        if not edition.image_alt:
            yield Note(
                "warning",
                "the issue image has no alt text",
                edition.source,
                line,
                "add `image_alt: ...` describing it",
                code="alt-text",
            )
    for story in edition.stories:
        if story.image and not story.fallback:
            yield from _local_file(
                story.image, story.source, story.meta_lines.get("image", 1), "image"
            )


def _texts(edition: Edition) -> Iterator[tuple[str, Path, int]]:
    """The Markdown parts of an edition with the file and line each starts at."""
    source = edition.source.read_text(encoding="utf-8") if edition.source.is_file() else ""
    body_line = split_front_matter(source, edition.source).body_line if source else 1
    body = "\n".join(source.split("\n")[body_line - 1 :])
    for text in (edition.lead, edition.closing):
        if text:
            yield text, edition.source, body_line - 1 + _line_of(body, text)
    # The footer and section intros may live in the front matter (issue folders) or the body.
    for text in (edition.footer, *(s.intro for s in edition.sections)):
        if text:
            yield text, edition.source, _line_of(source, text)
    for story in edition.stories:
        if not story.fallback:
            yield story.body, story.source, story.line


def _line_of(source: str, text: str) -> int:
    """The line of `source` where `text` starts (its first line, found verbatim), else 1."""
    first = text.strip().split("\n", 1)[0]
    index = source.find(first) if first else -1
    return source.count("\n", 0, index) + 1 if index >= 0 else 1


def _local_links(parser: MarkdownIt, text: str, source: Path, first_line: int) -> Iterator[Note]:
    for token in parser.parse(text):
        line = first_line + (token.map[0] if token.map else 0)
        if token.type == "html_block":
            for url in _HTML_URL.findall(token.content):
                yield from _local_file(url, source, line, "link")
        for child in token.children or []:
            if child.type == "image":
                src = str(child.attrs.get("src") or "")
                yield from _local_file(src, source, line, "image")
                if not child.content.strip():
                    yield Note(
                        "warning",
                        f"image {src!r} has no alt text",
                        source,
                        line,
                        "describe the image between the brackets: ![what it shows](...)",
                        code="alt-text",
                    )
            elif child.type == "link_open":
                yield from _local_file(str(child.attrs.get("href") or ""), source, line, "link")
            elif child.type == "html_inline":
                for url in _HTML_URL.findall(child.content):
                    yield from _local_file(url, source, line, "link")


def _local_file(url: str, source: Path, line: int, kind: str) -> Iterator[Note]:
    """An error when a relative URL names a file that does not exist next to `source`."""
    url = url.strip()
    if not url or "{{" in url or "{%" in url:
        return  # Empty, or a template placeholder: reported as a shortcode instead.
    if url.startswith("{"):
        yield Note(
            "warning",
            f"{kind} {url!r} uses a site generator placeholder",
            source,
            line,
            "write a path relative to this file instead",
            code="link",
        )
        return
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("#", "/")):
        return
    target = (source.parent / unquote(parts.path)).resolve()
    if parts.path and not target.exists():
        yield Note(
            "error",
            f"{kind} {url!r} does not resolve: {target.name} is not in {source.parent.name}/",
            source,
            line,
            "add the file, or fix the path (relative paths start from the Markdown file's folder)",
            code="missing-file",
        )
