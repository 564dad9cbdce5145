"""Messages of a mailing: MIME bytes built once per (mailing, locale), filled per recipient.

A recipient's message differs from the next one's in a few header values (To, Date,
Message-ID, List-Unsubscribe) and a few lines of the body (greeting, footer links). So the
message is built once, as bytes: headers folded and RFC 2047-encoded, both parts
quoted-printable, CRLF line ends. Body lines that hold a placeholder stay templates; `fill`
merges and encodes only those lines and joins them with the prebuilt pieces. No MIME tree is
built per recipient.

No line of a message starts with a dot (quoted-printable writes it as `=2E`), so SMTP needs no
dot-stuffing, and the bytes written to an .eml file are exactly the bytes sent.
"""

from __future__ import annotations

import binascii
import functools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from email.header import Header
from email.policy import SMTP
from types import MappingProxyType
from typing import Any, NamedTuple

from newsletter.characters import one_line
from newsletter.deliver.address_headers import address_header
from newsletter.render.fields import field_value, fields_in
from newsletter.render.i18n import locale_tag
from newsletter.render.merge import (
    MergeTemplate,
    escaped,
    header_escape,
    html_escape,
    placeholder,
    text_escape,
)
from newsletter.render.story_links import StoryLinks

_LEADING_DOT = re.compile(rb"(?m)^\.")
_PLAIN_ASCII = re.compile(r"[!-<>-~]+")  # Printable ASCII but `=`, no spaces.
TEST_PREFIX = "[TEST] "


@dataclass(frozen=True)
class Sender:
    """Who a mailing comes from, and where replies and unsubscribe emails go."""

    name: str
    address: str
    reply_to: str
    list_name: str
    unsubscribe_address: str

    @functools.cached_property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class Content:
    """One edition as a mailing sends it: rendered once, placeholders still in it."""

    locale: str
    subject: str
    html: str
    text: str
    web_url: str
    stories: tuple[StoryLinks, ...] = ()
    """Its stories and the URLs each links to (render/story_links.py): what click reports
    count per story."""


class Recipient(NamedTuple):
    """What differs from one message of an edition to the next."""

    email: str
    name: str
    message_id: str
    unsubscribe_url: str
    preferences_url: str
    unsubscribe_token: str
    click_token: str = ""
    """The signed delivery in tracking URLs (tracking = "individual"), else ""."""
    attributes: Mapping[str, Any] = MappingProxyType({})
    """The subscriber's attributes, for subscriber fields (read only when the mailing has some)."""


class QuotedPrintableBody:
    """A quoted-printable body: the text between placeholders encoded once, values per recipient.

    A soft line break (`=` at the end of a line) may stand anywhere in quoted-printable text
    and decodes to nothing, so each piece is encoded on its own and ends in one: the text
    around a placeholder never has to be encoded again, however long its line is.
    """

    def __init__(self, template: MergeTemplate[str], html: bool) -> None:
        self.fields, self.html = template.fields, html
        self.literals = tuple(_quoted_piece(literal) for literal in template.literals)

    def encode(self, html_values: dict[str, str], text_values: dict[str, str]) -> bytes:
        values = html_values if self.html else text_values
        parts = [self.literals[0]]
        for field, literal in zip(self.fields, self.literals[1:], strict=True):
            parts.append(_quoted_value(values[field]))
            parts.append(literal)
        return b"".join(parts)


@functools.lru_cache(maxsize=4096)
def _quoted_value(text: str) -> bytes:
    """A merged value as a quoted-printable piece; links and addresses take a short cut.

    Cached: a recipient's links stand in both parts, and the web link is everyone's.
    """
    if _PLAIN_ASCII.fullmatch(text) and not text.startswith("."):
        # Printable ASCII without `=` or spaces is itself quoted-printable: only cut it into
        # lines (a soft break at each cut) so that no line starts with a dot.
        if len(text) <= 75:
            return text.encode("ascii") + b"=\r\n"
        data = text.encode("ascii")
        lines = [data[start : start + 75] for start in range(0, len(data), 75)]
        if not any(line.startswith(b".") for line in lines):
            return b"=\r\n".join(lines) + b"=\r\n"
    return _quoted_piece(text)


def _quoted_piece(text: str) -> bytes:
    """`text` in quoted-printable, ending in a soft line break unless it ends a line."""
    encoded = quoted_printable(text)
    if not encoded or encoded.endswith(b"\r\n"):
        return encoded
    # The soft break goes after the last line, which may have no room left for it. The line
    # break before that line is kept even when nothing stands before it (text after a merged
    # value that starts with a line break: the footer's `\nUnsubscribe: `).
    head, newline, last = encoded.rpartition(b"\r\n")
    return head + newline + b"".join(line + b"=\r\n" for line in _cut(last, 75))


class Base64Body:
    """A base64 body with placeholder lines; the text around them is encoded once.

    Base64 encodes groups of three bytes, so a run of fixed text can be encoded ahead only
    from a known position in the stream. A recipient's merged line has a length of its own,
    so each run after one is encoded ahead three times, starting 0, 1 and 2 bytes in: the
    merged line takes the run's first 0-2 bytes to end on a whole group, and the run's
    matching encoding follows. Lines may be shorter than 76 characters; decoders join them.
    """

    def __init__(self, segments: list[str | MergeTemplate[str]], html: bool) -> None:
        self.html = html
        head = segments[0]
        assert isinstance(head, str)
        self.head, self.carry = _ahead(_crlf(head).encode("utf-8"))
        # (line template, run bytes, [(encoded run, bytes left over) for 0, 1, 2 bytes in])
        self.rest: list[tuple[MergeTemplate[str], bytes, list[tuple[bytes, bytes]]]] = []
        for at in range(1, len(segments), 2):
            template, run = segments[at], segments[at + 1]
            assert isinstance(template, MergeTemplate) and isinstance(run, str)
            data = _crlf(run).encode("utf-8")
            self.rest.append((template, data, [_ahead(data[skip:]) for skip in range(3)]))

    def encode(self, html_values: dict[str, str], text_values: dict[str, str]) -> bytes:
        values = html_values if self.html else text_values
        parts, carry = [self.head], self.carry
        for template, data, ahead in self.rest:
            chunk = carry + _crlf(template.fill(values)).encode("utf-8")
            skip = -len(chunk) % 3
            if skip > len(data):  # A run too short to complete the group: carry it all.
                chunk += data
                whole = len(chunk) - len(chunk) % 3
                parts.append(_base64_lines(chunk[:whole]))
                carry = chunk[whole:]
                continue
            parts.append(_base64_lines(chunk + data[:skip]))
            encoded, carry = ahead[skip]
            parts.append(encoded)
        parts.append(_base64_lines(carry))
        return b"".join(parts)


def _crlf(text: str) -> str:
    """Text with CRLF line breaks, as a text part must be before it is base64-encoded."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _ahead(data: bytes) -> tuple[bytes, bytes]:
    """`data`'s whole three-byte groups encoded, and the 0-2 bytes left over."""
    whole = len(data) - len(data) % 3
    return _base64_lines(data[:whole]), data[whole:]


def _base64_lines(data: bytes) -> bytes:
    """`data` in base64, in lines of at most 76 characters, each ending in CRLF."""
    if not data:
        return b""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[at : at + 76] + b"\r\n" for at in range(0, len(encoded), 76))


class DotSafe(bytes):
    """Message bytes in which no line starts with a dot: SMTP can send them without stuffing."""


class MessageTemplate:
    """One edition's message with recipient values still open; `fill` makes a recipient's bytes."""

    def __init__(self, content: Content, sender: Sender, *, test: bool = False) -> None:
        self.content = content
        self.per_reader_links = placeholder("click") in content.html + content.text
        """Its tracking URLs carry each reader's delivery (tracking = "individual")."""
        self.fields = fields_in(
            MergeTemplate.compile(content.html).fields + MergeTemplate.compile(content.text).fields
        )
        """Its subscriber fields (render/fields.py), each filled from the recipient."""
        edition = {"web_url": content.web_url}
        self.html_fixed = escaped(edition, html_escape)
        self.text_fixed = escaped(edition, text_escape)
        self.list_unsubscribe_mailto = f"mailto:{sender.unsubscribe_address}?subject=unsubscribe"
        boundary = f"=_nl_{secrets.token_hex(12)}"  # "=_" never occurs in quoted-printable text.
        subject = (TEST_PREFIX if test else "") + content.subject
        headers = [
            ("Reply-To", sender.reply_to),
            ("Subject", subject),
            ("List-Id", f"{sender.list_name} <{list_id(sender)}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Content-Language", locale_tag(content.locale)),
            ("MIME-Version", "1.0"),
            ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
        head = f"From: {address_header(sender.name, sender.address, 'From')}\r\n"
        head += "".join(_header(name, value) for name, value in headers if value)
        pieces: list[bytes | QuotedPrintableBody | Base64Body] = [head.encode("ascii") + b"\r\n"]
        for subtype, body in (("plain", content.text), ("html", content.html)):
            encoding, encoded = _body(body, html=subtype == "html")
            part = (
                f"--{boundary}\r\n"
                f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
                f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
            )
            pieces.append(part.encode("ascii"))
            pieces += encoded
            pieces.append(b"\r\n")
        pieces.append(f"--{boundary}--\r\n".encode("ascii"))
        self.pieces = _joined(pieces)

    def fill(
        self, recipient: Recipient, date: str, fields: Mapping[str, str] | None = None
    ) -> DotSafe:
        """The message for one recipient, sent at `date` (an RFC 5322 date); `fields`: values
        of the subscriber fields by placeholder name (a test send's samples), else the
        recipient's own."""
        values = {
            "name": recipient.name,
            "email": recipient.email,
            "unsubscribe_url": recipient.unsubscribe_url,
            "preferences_url": recipient.preferences_url,
            "click": recipient.click_token,
        }
        for field in self.fields:
            values[field.name] = (
                fields[field.name]
                if fields is not None
                else field_value(field, recipient.name, recipient.email, recipient.attributes)
            )
        # The edition's own values (the web link) were escaped once, in __init__.
        html_values = {**self.html_fixed, **{k: html_escape(v) for k, v in values.items()}}
        text_values = {**self.text_fixed, **{k: text_escape(v) for k, v in values.items()}}
        unsubscribe = (
            f"<{recipient.unsubscribe_url}>, "
            f"<{self.list_unsubscribe_mailto}%20{recipient.unsubscribe_token}>"
        )
        parts = [
            (
                f"Date: {one_line(date)}\r\nMessage-ID: {one_line(recipient.message_id)}\r\n"
                f"To: {address_header(header_escape(recipient.name), recipient.email)}\r\n"
                f"List-Unsubscribe: {one_line(unsubscribe)}\r\n"
            ).encode()
        ]
        for piece in self.pieces:
            parts.append(
                piece if isinstance(piece, bytes) else piece.encode(html_values, text_values)
            )
        return DotSafe(b"".join(parts))


def _body(text: str, *, html: bool) -> tuple[str, list[bytes | QuotedPrintableBody | Base64Body]]:
    """A part's transfer encoding and body: whichever of quoted-printable and base64 is shorter.

    Quoted-printable keeps mostly-ASCII text readable and small; text in Chinese or Arabic
    takes three times its size in it, and a third more in base64.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # Each CR, LF or CRLF: one break.
    template = MergeTemplate.compile(text)
    size = len(text.encode("utf-8"))
    if len(quoted_printable("".join(template.literals))) > size * 4 / 3 * 78 / 76:
        return "base64", [Base64Body(_segments(text), html)]
    return "quoted-printable", [QuotedPrintableBody(template, html)]


def _segments(text: str) -> list[str | MergeTemplate[str]]:
    """Runs of fixed lines and lines with placeholders, alternating, starting and ending with a run."""
    segments: list[str | MergeTemplate[str]] = []
    run: list[str] = []
    lines = text.split("\n")
    for number, line in enumerate(lines):
        line += "\n" if number < len(lines) - 1 else ""
        template = MergeTemplate.compile(line)
        if template.fields:
            segments += ["".join(run), template]
            run = []
        else:
            run.append(line)
    segments.append("".join(run))
    return segments


def _joined(
    pieces: list[bytes | QuotedPrintableBody | Base64Body],
) -> tuple[bytes | QuotedPrintableBody | Base64Body, ...]:
    """Adjacent byte strings joined, so `fill` joins as few pieces as possible."""
    out: list[bytes | QuotedPrintableBody | Base64Body] = []
    for piece in pieces:
        if isinstance(piece, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += piece
        elif piece != b"":
            out.append(piece)
    return tuple(out)


def quoted_printable(text: str) -> bytes:
    """`text` as quoted-printable lines of at most 76 characters ending in CRLF, none
    starting with a dot."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # A lone CR must not reach SMTP.
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    # `=2E` is two characters longer than the dot: cut such lines again where needed. binascii
    # also writes 77 characters where a line's last one is white space it encodes (`=09`).
    if b"\n." in encoded or encoded.startswith(b".") or _longest_line(encoded) > 76:
        lines = _LEADING_DOT.sub(b"=2E", encoded).split(b"\n")
        encoded = b"\n".join(_refit(line) for line in lines)
    return encoded.replace(b"\n", b"\r\n")


def _longest_line(encoded: bytes) -> int:
    return max(map(len, encoded.split(b"\n")))


def _refit(line: bytes) -> bytes:
    """A quoted-printable line longer than 76 characters, cut with soft breaks."""
    if len(line) <= 76:
        return line
    soft = line.endswith(b"=")
    pieces = _cut(line[:-1] if soft else line, 75)
    return b"=\n".join(pieces) + (b"=" if soft else b"")


def _cut(line: bytes, width: int) -> list[bytes]:
    """`line` in pieces of at most `width` characters, never inside an `=XX` escape."""
    pieces = []
    while len(line) > width:
        at = width
        escape = line.rfind(b"=", at - 2, at)
        if escape >= 0:
            at = escape  # Do not split `=XX`.
        pieces.append(line[:at])
        line = line[at:]
    pieces.append(line)
    return pieces


def _header(name: str, value: str) -> str:
    """One header line (or folded lines), RFC 2047-encoded where needed, ending in CRLF."""
    value = one_line(value)
    if "=?" in value and name == "Subject":
        # Text that looks like an encoded word would be decoded by readers: encode it all.
        encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
        return f"{name}: {encoded}\r\n"
    folded: str = SMTP.header_factory(name, value).fold(policy=SMTP)
    return folded


def list_id(sender: Sender) -> str:
    """The List-Id (RFC 2919): a dot-atom under the sender's domain, from the newsletter's name."""
    label = re.sub(r"[^a-z0-9]+", "-", sender.list_name.lower()).strip("-") or "newsletter"
    return f"{label}.{sender.domain}"


def message_id(mailing_uid: str, delivery_id: int, domain: str) -> str:
    """A delivery's Message-ID: the same for each attempt, so a resent copy can be recognized."""
    return f"<{mailing_uid}.{delivery_id}@{domain}>"
