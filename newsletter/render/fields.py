"""Subscriber fields in issue Markdown and templates: `{{ subscriber.first_name | default("there") }}`.

A field is rendered once as a merge placeholder whose name carries its key and default
(`%%nl_f_<hex key>_<hex default>%%`), so a mailing stores nothing else and the merge step
fills it per recipient like any other placeholder. Pages that are not per reader (the web
page, feeds, the archive) show the default instead.

Markdown: each field expression outside code is swapped for an inert token before parsing
(letters and digits with a per-renderer nonce, so no author text can forge one) and the token
is swapped for the placeholder or the default after rendering; inside a tag (a link's address)
it always becomes the default: a reader's value never becomes part of a URL.
"""

from __future__ import annotations

import functools
import html
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2.filters import do_default
from markdown_it import MarkdownIt

from newsletter.content.markdown import INLINE_CODE, code_lines

BUILT_IN = ("name", "first_name", "email")
"""Keys every subscriber has (first_name: the attribute, else the first word of the name)."""
EXPRESSION = re.compile(
    r"""\{\{\s*subscriber\.(?P<key>[A-Za-z0-9_-]+)\s*"""
    r"""(?:\|\s*default\s*\(\s*(?:"(?P<double>[^"\n]*)"|'(?P<single>[^'\n]*)')\s*\)\s*)?\}\}"""
)
"""A field expression: `{{ subscriber.KEY }}` or `{{ subscriber.KEY | default("text") }}`."""
STARTS = re.compile(r"\{\{-?\s*subscriber\b")
"""Where a field expression starts: one that EXPRESSION does not match there is malformed."""
PLACEHOLDER_NAME = re.compile(r"f_((?:[0-9a-f]{2})+)(?:_((?:[0-9a-f]{2})*))?")
_FOLD = re.compile(r"[\s_-]+")


@dataclass(frozen=True)
class Field:
    """One subscriber field as written: its key and its default (None: none given)."""

    key: str
    default: str | None = None

    @property
    def name(self) -> str:
        """Its merge placeholder name: key and default in lowercase hex, nothing else stored."""
        name = "f_" + self.key.encode("utf-8").hex()
        return name if self.default is None else f"{name}_{self.default.encode('utf-8').hex()}"

    @property
    def placeholder(self) -> str:
        """The placeholder the merge step fills with a reader's value."""
        return f"%%nl_{self.name}%%"

    @classmethod
    def from_name(cls, name: str) -> Field | None:
        """The field a placeholder name stands for; None for a name that is not a field's."""
        match = PLACEHOLDER_NAME.fullmatch(name)
        if match is None:
            return None
        try:
            key = bytes.fromhex(match.group(1)).decode("utf-8")
            default = match.group(2)
            return cls(key, None if default is None else bytes.fromhex(default).decode("utf-8"))
        except UnicodeDecodeError:
            return None


def parse_expression(match: re.Match[str]) -> Field:
    """The field of one EXPRESSION match."""
    default = match.group("double")
    default = match.group("single") if default is None else default
    return Field(match.group("key"), default)


def with_defaults(text: str) -> str:
    """`text` with each field expression replaced by its default (a preheader, an excerpt)."""
    if "{{" not in text:
        return text
    return EXPRESSION.sub(lambda match: parse_expression(match).default or "", text)


def field_value(field: Field, name: str, email: str, attributes: Mapping[str, Any]) -> str:
    """A reader's value of `field`: their name, address or attribute, else its default, else ""."""
    if field.key == "name":
        value = name
    elif field.key == "email":
        value = email
    else:
        value = attribute_text(attributes, field.key)
        if not value and field.key == "first_name":
            words = name.split()
            value = words[0] if words else ""
    return value or field.default or ""


def attribute_text(attributes: Mapping[str, Any], key: str) -> str:
    """The attribute named `key` as text; keys compare as CSV headers do (case, spaces,
    dashes and underscores ignored: `company_size` finds an imported `Company Size` column)."""
    if key in attributes:
        return _text(attributes[key])
    wanted = fold(key)
    for stored, value in attributes.items():
        if fold(stored) == wanted:
            return _text(value)
    return ""


def fold(key: str) -> str:
    """A key as attribute names are compared: without case, spaces, dashes and underscores."""
    return _FOLD.sub("", key).casefold()


def _text(value: Any) -> str:
    """An attribute value as a reader sees it: a list as "a, b", yes/no, a number as written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


SAMPLES = {"first_name": "Ada", "name": "Ada Lovelace", "email": "reader@example.org"}


def sample_value(field: Field) -> str:
    """What previews, builds and test sends show: the default, else a sample an editor
    recognises (Ada, Ada Lovelace, or the attribute's key in brackets: `[company]`)."""
    if field.default is not None:
        return field.default
    return SAMPLES.get(field.key, f"[{field.key}]")


def fields_in(names: Iterable[str]) -> tuple[Field, ...]:
    """The fields among placeholder names, each once."""
    found = (Field.from_name(name) for name in dict.fromkeys(names))
    return tuple(field for field in found if field is not None)


class FieldMarks:
    """Field expressions of one renderer's Markdown, as inert tokens while it is parsed.

    `merge`: the email (tokens become placeholders); else a page that is not per reader
    (tokens become the default).
    """

    def __init__(self, merge: bool) -> None:
        self.merge = merge
        self.nonce = secrets.token_hex(6)
        self.fields: list[Field] = []

    @functools.cached_property
    def token(self) -> re.Pattern[str]:
        """A token of this renderer (compiled when first needed: most parts have no field,
        and an archive makes several renderers per issue)."""
        return re.compile(f"Nlf{self.nonce}([0-9]+)z")

    @functools.cached_property
    def _tag_or_token(self) -> re.Pattern[str]:
        return re.compile(f"<[^>]*>|{self.token.pattern}")

    def mark(self, parser: MarkdownIt, markdown: str) -> str:
        """`markdown` with each field expression outside code replaced by a token."""
        if "{{" not in markdown:
            return markdown
        lines = markdown.split("\n")
        code = code_lines(parser.parse(markdown))
        for number, line in enumerate(lines):
            if number not in code and "{{" in line:
                lines[number] = self._mark_line(line)
        return "\n".join(lines)

    def _mark_line(self, line: str) -> str:
        spans = [match.span() for match in INLINE_CODE.finditer(line)]

        def token(match: re.Match[str]) -> str:
            if any(start < match.end() and match.start() < end for start, end in spans):
                return match.group(0)  # In a code span: shown as written.
            self.fields.append(parse_expression(match))
            return f"Nlf{self.nonce}{len(self.fields) - 1}z"

        return EXPRESSION.sub(token, line)

    def in_url(self, url: str) -> str:
        """A URL with each token replaced by its default, unescaped (never a reader's value)."""
        if "Nlf" not in url:
            return url
        return self.token.sub(lambda match: self._field(match).default or "", url)

    def html(self, rendered: str) -> str:
        """Rendered HTML with each token replaced: the placeholder (email) or the escaped
        default, which a token inside a tag always gets."""
        if not self.fields:
            return rendered
        return self._tag_or_token.sub(self._html_replacement, rendered)

    def _html_replacement(self, match: re.Match[str]) -> str:
        if match.group(0).startswith("<"):
            return self.token.sub(lambda token: _escaped_default(self._field(token)), match[0])
        field = self._field(match)
        return field.placeholder if self.merge else _escaped_default(field)

    def text(self, rendered: str) -> str:
        """Rendered plain text (the email's text part) with each token replaced by its placeholder."""
        if not self.fields:
            return rendered
        return self.token.sub(lambda match: self._field(match).placeholder, rendered)

    def _field(self, match: re.Match[str]) -> Field:
        return self.fields[int(match.group(1))]


def _escaped_default(field: Field) -> str:
    return html.escape(field.default or "", quote=True)


# -- Templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldReference:
    """`subscriber.KEY` in a template: the placeholder in the email, the default on a page."""

    field: Field
    merge: bool

    def __str__(self) -> str:
        if self.merge:
            return self.field.placeholder
        return self.field.default or ""

    def __html__(self) -> str:
        # A placeholder is letters, digits, `%` and `_`: nothing to escape.
        return self.field.placeholder if self.merge else _escaped_default(self.field)

    def with_default(self, default: str) -> FieldReference:
        return FieldReference(Field(self.field.key, default), self.merge)


class SubscriberFields:
    """The `subscriber` of a template context: each attribute a field reference."""

    __slots__ = ("_merge",)

    def __init__(self, merge: bool) -> None:
        self._merge = merge

    def __getattr__(self, key: str) -> FieldReference:
        if key.startswith("_"):
            raise AttributeError(key)
        return FieldReference(Field(key), self._merge)

    def __getitem__(self, key: str) -> FieldReference:
        return FieldReference(Field(str(key)), self._merge)


def default_filter(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's `default`, which also gives a subscriber field its default."""
    if isinstance(value, FieldReference):
        return value.with_default(str(default_value))
    return do_default(value, default_value, boolean)
