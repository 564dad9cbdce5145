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
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def header_text(message: Message, name: str) -> str:
    """The first `name` header of `message` as one line of text ("" when absent or unreadable)."""
    value = message.get(name)
    return "" if value is None else decoded_header(value)


def header_texts(message: Message, name: str) -> list[str]:
    """Every `name` header of `message`, in the message's order, each as one line of text."""
    return [decoded_header(value) for value in message.get_all(name) or ()]


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
    if any("\udc80" <= char <= "\udcff" for char in text):
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


def body_text(message: Message, limit: int = MAX_BODY_CHARACTERS) -> str:
    """The text of `message` to look for words in: its text/plain parts (else its first text
    part), not the parts a report returns, at most `limit` characters."""
    texts: list[str] = []
    fallback = ""
    for part in message.walk():
        if part.get_content_maintype() == "message":
            break  # The returned original: its words are not the report's.
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            texts.append(part_text(part, limit))
        elif not fallback and part.get_content_maintype() == "text":
            fallback = part_text(part, limit)
        if sum(map(len, texts)) >= limit:
            break
    return ("\n".join(texts) or fallback)[:limit]


def address_in(value: str) -> str:
    """The bare address in a header value or report field (`rfc822; <a@b>`, `Name <a@b>`),
    lower-case domain kept as written, "" when there is none."""
    value = value.strip()
    if ";" in value:
        # `rfc822; a@b` (RFC 3464's address type): the address is after the first semicolon.
        kind, _, rest = value.partition(";")
        if "@" not in kind or kind.strip().lower() == "rfc822":
            value = rest.strip()
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
