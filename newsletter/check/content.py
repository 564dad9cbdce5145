"""Checks on an issue's source: metadata, translations, local links and images, shortcodes."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from newsletter.check.alt_text import ALT_HINT, html_image_notes, image_note
from newsletter.check.fields import control_characters
from newsletter.check.merge_fields import header_field_notes, markdown_field_notes
from newsletter.content.frontmatter import split_front_matter
from newsletter.content.local_files import IssueFiles, is_computer_path
from newsletter.content.markdown import code_lines
from newsletter.content.shortcodes import find_shortcodes
from newsletter.model import Edition, Issue, Note, Story
from newsletter.render.controls import clean_edition, strip_controls
from newsletter.render.merge import literal_placeholders

_HTML_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_HTML_SRCSET = re.compile(r"""\bsrcset\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_FOOTNOTE_REFERENCE = re.compile(r"\[\^([^\]\s]+)\](?!:)")
_MARKDOWN_FILE_URL = re.compile(r"\]\(\s*<?(file:[^\s)>]+)", re.IGNORECASE)


def check_content(issue: Issue, parser: MarkdownIt, fields: Collection[str] = ()) -> list[Note]:
    """Every problem in the issue's files, in all its editions, each reported once; `fields`:
    the attribute keys subscriber fields may use besides the built-in ones."""
    notes: list[Note] = []
    seen: set[tuple[str, Path, int | None, str]] = set()
    rule = IssueFiles(issue.path, issue.project_root)
    checked: set[str] = set()
    for edition in issue.editions.values():
        # The text the build renders: control characters and escape sequences are removed
        # where an edition enters rendering; what is left (a line break in a title) is judged.
        cleaned = clean_edition(edition, parser)
        found = _edition_checks(cleaned, parser, rule, checked, fields)
        for note in [*edition.notes, *found]:
            key = (note.message, note.path, note.line, note.code)
            if key not in seen:
                seen.add(key)
                notes.append(note)
    return notes


def _edition_checks(
    edition: Edition,
    parser: MarkdownIt,
    rule: IssueFiles,
    checked: set[str],
    fields: Collection[str],
) -> Iterator[Note]:
    yield from control_characters(edition)
    yield from header_field_notes(edition)
    for text, source, line in _texts(edition, checked):
        yield from markdown_field_notes(parser, text, source, line, fields)
        yield from _local_links(parser, text, source, line, rule)
        yield from _undefined_footnotes(parser, text, source, line)
        for shortcode in find_shortcodes(parser, text, line):
            yield Note(
                "warning",
                f"unknown {shortcode.dialect} shortcode {shortcode.text!r}: it is shown as text",
                source,
                shortcode.line,
                "replace it with a Markdown link or image",
                code="shortcode",
            )
    images: list[tuple[Edition | Story, str, str]] = []
    if edition.image:
        images.append((edition, "the issue image", "the front matter"))
    images += [
        (story, f"the story image {story.image!r}", "the story's front matter")
        for story in edition.stories
        if story.image and not story.fallback
    ]
    for document, what, where in images:
        assert document.image is not None
        line = document.meta_lines.get("image", 1)
        yield from _local_file(document.image, document.source, line, "image", rule)
        yield from image_note(
            document.image_alt,
            document.image,
            document.source,
            document.meta_lines.get("image_alt", line),
            f"add `image_alt: ...` to {where} ({ALT_HINT})",
            what=what,
        )


def _texts(edition: Edition, checked: set[str]) -> Iterator[tuple[str, Path, int]]:
    """The Markdown parts of an edition with the file and line each starts at; a footer or
    section intro a translation takes over from the original (in `checked`) is not repeated."""
    source = edition.source.read_text(encoding="utf-8") if edition.source.is_file() else ""
    # As the parts are (cleaned where the edition enters rendering), their lines where they were.
    source = literal_placeholders(strip_controls(source))
    body_line = split_front_matter(source, edition.source).body_line if source else 1
    body = "\n".join(source.split("\n")[body_line - 1 :])
    for text in (edition.lead, edition.closing):
        if text:
            yield text, edition.source, body_line - 1 + _line_of(body, text)
    # The footer and section intros may live in the front matter (issue folders) or the body.
    for text in (edition.footer, *(s.intro for s in edition.sections)):
        first = text.strip().split("\n", 1)[0]
        if text and (text not in checked or first in source):
            checked.add(text)
            yield text, edition.source, _line_of(source, text)
    for story in edition.stories:
        if not story.fallback:
            yield story.body, story.source, story.line


def _line_of(source: str, text: str) -> int:
    """The line of `source` where `text` starts (its first line, found verbatim), else 1."""
    first = text.strip().split("\n", 1)[0]
    index = source.find(first) if first else -1
    return source.count("\n", 0, index) + 1 if index >= 0 else 1


def _local_links(
    parser: MarkdownIt, text: str, source: Path, first_line: int, rule: IssueFiles
) -> Iterator[Note]:
    tokens = parser.parse(text)
    for token in tokens:
        line = first_line + (token.map[0] if token.map else 0)
        if token.type == "html_block":
            for url in _html_urls(token.content):
                yield from _local_file(url, source, line, "link", rule)
            yield from html_image_notes(token.content, source, line)
        for child, child_line in _with_lines(token.children or [], line):
            if child.type == "image":
                src = str(child.attrs.get("src") or "")
                yield from _local_file(src, source, child_line, "image", rule)
                yield from image_note(
                    child.content,
                    src,
                    source,
                    child_line,
                    f"{ALT_HINT} between the brackets: ![what it shows](...)",
                )
            elif child.type == "link_open":
                href = str(child.attrs.get("href") or "")
                yield from _local_file(href, source, child_line, "link", rule)
            elif child.type == "html_inline":
                for url in _html_urls(child.content):
                    yield from _local_file(url, source, child_line, "link", rule)
                yield from html_image_notes(child.content, source, child_line)
    # markdown-it leaves `![x](file:///...)` as text (it never links file: URLs): still named.
    code = code_lines(tokens)
    for number, text_line in enumerate(text.split("\n")):
        if number not in code:
            for url in _MARKDOWN_FILE_URL.findall(text_line):
                yield from _local_file(url, source, first_line + number, "link", rule)


def _undefined_footnotes(
    parser: MarkdownIt, text: str, source: Path, first_line: int
) -> Iterator[Note]:
    """A warning for each footnote reference with no definition: it shows as written."""
    for token in parser.parse(text):
        line = first_line + (token.map[0] if token.map else 0)
        for child, child_line in _with_lines(token.children or [], line):
            if child.type == "text":
                for label in _FOOTNOTE_REFERENCE.findall(child.content):
                    yield Note(
                        "warning",
                        f"footnote [^{label}] has no definition: it shows as [^{label}]",
                        source,
                        child_line,
                        f"add `[^{label}]: the note` below the text, or remove the reference",
                        code="footnote",
                    )


def _with_lines(children: list[Token], line: int) -> Iterator[tuple[Token, int]]:
    """Each inline token with the line it is on (a paragraph's line breaks counted)."""
    for child in children:
        yield child, line
        if child.type in ("softbreak", "hardbreak"):
            line += 1


def _html_urls(html: str) -> Iterator[str]:
    """The URLs of src, href and each srcset candidate in raw HTML."""
    yield from _HTML_URL.findall(html)
    for srcset in _HTML_SRCSET.findall(html):
        yield from (part.strip().split(" ", 1)[0] for part in srcset.split(",") if part.strip())


def _local_file(url: str, source: Path, line: int, kind: str, rule: IssueFiles) -> Iterator[Note]:
    """An error when a relative URL names a file outside the project, a hidden file, or a file
    that does not exist next to `source`."""
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
    if parts.scheme == "file":
        yield Note(
            "error",
            f"{kind} {url!r} is a file: URL: it is dropped, never published",
            source,
            line,
            "copy the file into the issue folder and link it by a relative path",
            code="outside-project",
        )
        return
    if is_computer_path(unquote(url)):
        yield Note(
            "error",
            f"{kind} {url!r} is a path on a computer, not on the site: it is dropped, never "
            "published",
            source,
            line,
            "copy the file into the issue folder and link it by a relative path",
            code="outside-project",
        )
        return
    if parts.scheme or parts.netloc or url.startswith(("#", "/")):
        return
    found = rule.find(unquote(parts.path), source)
    if found.refused:
        yield Note(
            "error",
            f"{kind} {url!r} is {found.refused}: it is dropped, never published",
            source,
            line,
            "copy the file into the issue folder and link it by a relative path",
            code="outside-project",
        )
        return
    target = found.path
    if parts.path and not target.exists():
        yield Note(
            "error",
            f"{kind} {url!r} does not resolve: {target.name} is not in {source.parent.name}/",
            source,
            line,
            "add the file, or fix the path (relative paths start from the Markdown file's folder)",
            code="missing-file",
        )
