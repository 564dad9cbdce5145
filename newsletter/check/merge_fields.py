"""Checks on subscriber fields (`{{ subscriber.KEY | default("...") }}`, render/fields.py).

A field is filled per reader only in the email's body: in a title or preheader (the subject and
the inbox preview) it would show as written; in a link's address a reader's value would become
part of a URL. A key that is neither built in nor in the `fields` setting is likely misspelt,
and a field without a default shows nothing for a reader who lacks the attribute.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path

from markdown_it import MarkdownIt

from newsletter.content.markdown import INLINE_CODE, code_lines
from newsletter.model import Edition, Note
from newsletter.render.fields import (
    BUILT_IN,
    EXPRESSION,
    STARTS,
    Field,
    fields_in,
    fold,
    parse_expression,
)

_IN_URL = re.compile(
    r"""\]\(\s*<?[^)\s>]*$"""  # [text](https://...{{
    r"""|\b(?:href|src|srcset)\s*=\s*["'][^"']*$"""  # <a href="...{{
    r"""|<[a-z][a-z0-9+.-]*:[^>\s]*$"""  # <https://...{{>
    r"""|^\s{0,3}\[[^\]]+\]:\s*<?\S*$""",  # [label]: https://...{{
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"%%nl_(f_[a-z0-9_]+)%%")
SETTING_HINT = "add it to fields in config/newsletter.toml, or correct the spelling"
DEFAULT_HINT = 'give it a default: {{ subscriber.KEY | default("...") }}'


def markdown_field_notes(
    parser: MarkdownIt, text: str, source: Path, first_line: int, allowed: Collection[str]
) -> Iterator[Note]:
    """An error for each malformed, unknown, default-less or linked field in Markdown `text`."""
    if "{{" not in text:
        return
    code = code_lines(parser.parse(text))
    for number, line in enumerate(text.split("\n")):
        if number in code or "{{" not in line:
            continue
        visible = INLINE_CODE.sub(lambda match: " " * len(match.group(0)), line)
        for start in STARTS.finditer(visible):
            where = (source, first_line + number)
            match = EXPRESSION.match(visible, start.start())
            if match is None:
                yield _malformed(visible[start.start() :], *where)
                continue
            field = parse_expression(match)
            yield from field_notes(field, allowed, *where, f"subscriber.{field.key}")
            if _IN_URL.search(visible[: match.start()]):
                yield Note(
                    "error",
                    f"subscriber.{field.key} stands in a link or image address: a reader's "
                    "value must not become part of a URL (the address gets the default)",
                    *where,
                    "move the field into the link's text or out of the link",
                    code="field-in-url",
                )


def field_notes(
    field: Field, allowed: Collection[str], path: Path, line: int | None, what: str
) -> Iterator[Note]:
    """An error when `field`'s key is unknown, or when it has no default (`email` needs none)."""
    if field.key not in BUILT_IN and fold(field.key) not in {fold(key) for key in allowed}:
        yield Note(
            "error",
            f"{what}: {field.key!r} is not a subscriber field (built in: "
            f"{', '.join(BUILT_IN)}; configured: {', '.join(allowed) or 'none'})",
            path,
            line,
            SETTING_HINT,
            code="unknown-field",
        )
    if field.default is None and field.key != "email":
        yield Note(
            "error",
            f"{what} has no default: readers without it would see nothing there",
            path,
            line,
            DEFAULT_HINT.replace("KEY", field.key),
            code="field-default",
        )


def _malformed(text: str, path: Path, line: int) -> Note:
    shown = text if len(text) <= 60 else text[:59] + "…"
    return Note(
        "error",
        f"malformed subscriber field {shown!r}: it would be shown as written",
        path,
        line,
        'write {{ subscriber.KEY }} or {{ subscriber.KEY | default("text") }}, the default '
        "in quotes and the braces closed on the same line",
        code="malformed-field",
    )


def header_field_notes(edition: Edition) -> Iterator[Note]:
    """An error for each title or preheader holding a subscriber field: subjects are not merged."""
    texts = [
        ("title", edition.title, edition.source, edition.title_line),
        ("preheader", edition.preheader, edition.source, edition.meta_lines.get("preheader")),
        *(
            ("story title", story.title, story.source, story.meta_lines.get("title", story.line))
            for story in edition.stories
        ),
    ]
    for what, value, source, line in texts:
        if value and STARTS.search(value):
            yield Note(
                "error",
                f"the {what} holds a subscriber field: subjects, preheaders and titles are the "
                "same for every reader, so it would be shown as written",
                source,
                line,
                "move the field into the issue's text (the lead, for a greeting)",
                code="field-in-subject",
            )


def template_field_notes(
    html: str, text: str, allowed: Collection[str], source: Path, locale: str
) -> Iterator[Note]:
    """The errors of the fields a rendered email holds, named by the template they come from
    (Markdown fields were checked in their files: only a template's can be wrong here)."""
    for template, output in (("email.mjml.j2", html), ("text.txt.j2", text)):
        for field in fields_in(_PLACEHOLDER.findall(output)):
            yield from field_notes(
                field,
                allowed,
                source,
                None,
                f"{locale}: template {template}: subscriber.{field.key}",
            )
    for tag in re.findall(r"<[^>]*%%nl_f_[^>]*>", html):
        for field in fields_in(_PLACEHOLDER.findall(tag)):
            yield Note(
                "error",
                f"{locale}: template email.mjml.j2: subscriber.{field.key} stands inside a tag "
                "(an attribute or a link's address): a reader's value must not become part of it",
                source,
                None,
                "move the field into the text of the element",
                code="field-in-url",
            )
