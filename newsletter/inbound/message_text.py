"""Text out of an untrusted message: header values and part bodies, whatever the charset.

Bounces come from every kind of mail software: unknown or wrong charsets, raw 8-bit headers,
broken base64, parts that claim one type and hold another. Every function here returns text
(possibly with U+FFFD where bytes made no sense) and never raises on what a message holds.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

from newsletter.characters import one_line

# Diagnostics and subjects are shown to operators and stored: no value runs on forever.
MAX_VALUE_CHARACTERS = 1000
# Only the start of a body is read for words that tell what a message is; a bounce says what
# happened in its first screens, and reading 10 MB of returned attachment would waste time.
MAX_BODY_CHARACTERS = 64 * 1024

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?")
_PLAIN_ADDRESS = re.compile(r"<?([^\s<>()\[\],;:\"'@]{1,64}@[^\s<>()\[\],;:\"'@]{1,255})>?")
_RAW_BYTE = re.compile("[\udc80-\udcff]")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_FOLD = re.compile(r"\r?\n[ \t]+")
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def header_text(message: Message, name: str) -> str:
    """The first `name` header of `message` as one line of text ("" when absent or unreadable)."""
    texts = header_texts(message, name, first=True)
    return texts[0] if texts else ""


def header_texts(message: Message, name: str, *, first: bool = False) -> list[str]:
    """Every `name` header of `message` (only the first with `first`), in the message's
    order, each as one line of text."""
    wanted = name.lower()
    texts = []
    # The raw values: what compat32's get() gives for raw 8-bit bytes (a Header object)
    # reads as U+FFFD, the raw value keeps the bytes for decoded_header to decode.
    for key, value in message.raw_items():
        if key.lower() == wanted:
            texts.append(decoded_header(value))
            if first:
                break
    return texts


def decoded_header(value: object) -> str:
    """A header value as one line of text: RFC 2047 words decoded, raw 8-bit bytes as UTF-8 or
    Latin-1, at most MAX_VALUE_CHARACTERS."""
    text = str(value)
    if _ENCODED_WORD.search(text):
        # An encoded word that does not decode is kept as written.
        with contextlib.suppress(ValueError, LookupError, AssertionError, TypeError):
            text = "".join(
                _decoded(part, charset) if isinstance(part, bytes) else part
                for part, charset in decode_header(text)
            )
    # compat32 keeps raw 8-bit header bytes as lone surrogates; give them back their bytes.
    if not text.isascii() and _RAW_BYTE.search(text):
        text = _decoded(text.encode("ascii", "surrogateescape"), None)
    # Folded lines come back with their indentation: one space is what the value means.
    return " ".join(one_line(text).split())[:MAX_VALUE_CHARACTERS]


def part_text(part: Message, limit: int = MAX_BODY_CHARACTERS) -> str:
    """The decoded body of a non-multipart part, at most `limit` characters ("" for a
    multipart or a part with nothing readable)."""
    if part.is_multipart():
        return ""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, LookupError, AssertionError, TypeError):
        return ""
    if not isinstance(payload, bytes):
        return ""
    return _decoded(payload[: limit * 4], part.get_content_charset())[:limit]


def body_text(text_parts: list[Message], limit: int = MAX_BODY_CHARACTERS) -> str:
    """The text to look for words in: the text/plain parts among `text_parts` (else the
    first of them), at most `limit` characters."""
    texts: list[str] = []
    for part in text_parts:
        if part.get_content_type() == "text/plain":
            texts.append(part_text(part, limit))
            if sum(map(len, texts)) >= limit:
                break
    if not texts and text_parts:
        texts.append(part_text(text_parts[0], limit))
    return "\n".join(texts)[:limit]


def headers_of(text: str, limit: int = 200) -> Message:
    """The header fields at the start of `text` (returned headers, report blocks), as a
    Message, read without the full parser: unfolded, at most `limit` fields."""
    fields = Message()
    block = _BLANK_LINE.split(text.lstrip("\r\n"), maxsplit=1)[0]
    for line in _FOLD.sub(" ", block).splitlines()[:limit]:
        name, colon, value = line.partition(":")
        if colon and name and _FIELD_NAME.fullmatch(name):
            fields[name] = value.strip()
    return fields


def address_in(value: str) -> str:
    """The bare address in a header value or report field (`rfc822; <a@b>`, `Name <a@b>`),
    as written, "" when there is none."""
    value = value.strip()
    if ";" in value:
        # `rfc822; a@b` (RFC 3464's address type): the address is after the first semicolon.
        kind, _, rest = value.partition(";")
        if "@" not in kind or kind.strip().lower() == "rfc822":
            value = rest.strip()
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain:
        return plain[1]  # The usual case, without the cost of the full address parser.
    for _name, address in getaddresses([value]):
        if "@" in address:
            return one_line(address).strip("<> ")[:MAX_VALUE_CHARACTERS]
    found = _ADDRESS.search(value)
    return found.group().strip(".") if found else ""


def _decoded(data: bytes, charset: str | None) -> str:
    """`data` as text in `charset` when Python knows it, else UTF-8, else Latin-1."""
    if charset:
        try:
            codecs.lookup(charset)
            return data.decode(charset, "replace")
        except (LookupError, ValueError, TypeError):
            pass  # An unknown or broken charset name: try what is likely instead.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def value_text(value: object, limit: int = MAX_VALUE_CHARACTERS) -> str:
    """A JSON value (a provider's notification, by mail or webhook) as one line of at most
    `limit` characters; "" for anything but a string or a number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return one_line(str(value)).strip()[:limit]
