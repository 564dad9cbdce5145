"""Per-recipient fields, filled into rendered output by substitution, never by re-rendering.

The pipeline renders each (issue, locale) once with placeholders such as `%%nl_name%%`; a
MergeTemplate splits that output once, and `fill` joins the pieces with one recipient's
values, escaped for the part they go into (HTML, plain text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import AnyStr, Generic

from newsletter.render.fields import Field, fields_in, sample_value

FIELDS = (
    "name", "email", "unsubscribe_url", "preferences_url", "web_url", "confirm_url", "click",
)  # fmt: skip
"""`click`: the reader's signed delivery in tracking URLs (tracking = "individual")."""
# Subscriber fields (fields.py) are named `f_` and lowercase hex: their key and default.
_PLACEHOLDER = re.compile(r"%%nl_([a-z0-9_]+)%%")
_PLACEHOLDER_BYTES = re.compile(rb"%%nl_([a-z0-9_]+)%%")


def placeholder(field: str) -> str:
    """The marker templates write where a recipient's `field` goes."""
    return f"%%nl_{field}%%"


PLACEHOLDERS = {field: placeholder(field) for field in FIELDS}

_WORD_JOINER = "\u2060"
_ANY_PLACEHOLDER = re.compile(r"%%(?=nl_)")


def literal_placeholders(content: str) -> str:
    """`content` (what an issue's author wrote, rendered) with each `%%nl_...%%` it holds made
    inert: an invisible word joiner after its `%%`, so the reader sees it as written and only
    the templates' own placeholders are filled with a reader's values."""
    return _ANY_PLACEHOLDER.sub("%%" + _WORD_JOINER, content) if "%%nl_" in content else content


@dataclass(frozen=True)
class MergeTemplate(Generic[AnyStr]):
    """Rendered output split at its placeholders: literal, field, literal, field, ..., literal.

    Works on text or on bytes: delivery merges into the encoded message, so a recipient's
    message is never re-encoded as a whole (encoding 64 KB costs eight times the merge).
    """

    literals: tuple[AnyStr, ...]
    fields: tuple[str, ...]

    @classmethod
    def compile(cls, text: AnyStr) -> MergeTemplate[AnyStr]:
        """Split `text` once; unknown placeholder names (a malformed field's) are left as they are."""
        pattern = _PLACEHOLDER if isinstance(text, str) else _PLACEHOLDER_BYTES
        literals: list[AnyStr] = []
        fields: list[str] = []
        last = 0
        for match in pattern.finditer(text):
            name = match.group(1)
            field = name if isinstance(name, str) else name.decode("ascii")
            if field not in FIELDS and Field.from_name(field) is None:
                continue
            literals.append(text[last : match.start()])
            fields.append(field)
            last = match.end()
        literals.append(text[last:])
        return cls(tuple(literals), tuple(fields))

    def fill(self, values: Mapping[str, AnyStr]) -> AnyStr:
        """The output with each placeholder replaced by its (already escaped) value."""
        parts = [self.literals[0]]
        for field, literal in zip(self.fields, self.literals[1:], strict=True):
            parts.append(values[field])
            parts.append(literal)
        return self.literals[0][:0].join(parts)


def escaped(values: Mapping[str, str], escape: Callable[[str], str]) -> dict[str, str]:
    """Recipient values escaped once for one kind of output (do it per recipient, not per field
    use): the fixed fields, and the subscriber fields `values` holds."""
    return {field: escape(values.get(field, "")) for field in dict.fromkeys((*FIELDS, *values))}


def html_escape(value: str) -> str:
    """Escaping that is safe in HTML text and in quoted attribute values alike."""
    return html.escape(value, quote=True)


def text_escape(value: str) -> str:
    """Plain text needs no escaping, only no line breaks (a name must not start a new line)."""
    return " ".join(value.split())


def personalize(html: str, text: str, values: Mapping[str, str]) -> tuple[str, str]:
    """One message's HTML and text part for one recipient, each escaped for its part.

    For one-off messages (a preview, a build, a confirmation); a send compiles the templates
    once and fills them for every recipient. Subscriber fields get sample values.
    """
    html_template, text_template = MergeTemplate.compile(html), MergeTemplate.compile(text)
    values = {**sample_fields((*html_template.fields, *text_template.fields)), **values}
    return (
        html_template.fill(escaped(values, html_escape)),
        text_template.fill(escaped(values, text_escape)),
    )


def sample_fields(names: Iterable[str]) -> dict[str, str]:
    """Sample values (fields.sample_value) of the subscriber fields among placeholder names."""
    return {field.name: sample_value(field) for field in fields_in(names)}


def header_escape(value: str) -> str:
    """A header value on one line: a CR or LF in a name would start a new (injected) header.

    Encoding non-ASCII values (RFC 2047) is the message builder's job, after the merge.
    """
    return text_escape(value)


def sample_values(base_url: str, web_page: str) -> dict[str, str]:
    """Recipient values for previews, builds and test sends (no real subscriber's data)."""
    return {
        "name": "Ada Lovelace",
        "email": "reader@example.org",
        "unsubscribe_url": f"{base_url}/unsubscribe/preview",
        "preferences_url": f"{base_url}/preferences/preview",
        "web_url": web_page,
    }
