"""A message parsed into the very tree `email.message_from_bytes` makes, faster for reports.

The standard library's feed parser reads line by line through nested generators and compiles
a regular expression for each multipart boundary it meets; every bounce has a boundary of its
own, so that compilation alone is a quarter of the parse. Reports have a simple shape: headers,
a multipart, a few parts. `parse_message` splits the lines itself and builds, for such
messages, the same compat32 tree the feed parser builds (headers, payloads, preamble,
epilogue, the delivery-status blocks), then hands everything else to the feed parser: a line
ending in a lone CR, a header line the parser would note a defect for, a multipart without
its boundary, start or close, a multipart/digest, nesting deeper than MAX_DEPTH.

tests/test_inbound_mime.py checks that both trees are equal for every fixture and for
thousands of mutations of them.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from itertools import pairwise

MAX_DEPTH = 8
"""Entities nested deeper than this are left to the feed parser."""
# What splitlines() splits on besides CR LF, LF and a lone CR (bytes above 127 are surrogates
# here, so U+0085, U+2028 and U+2029 cannot occur); the feed parser does not.
_ODD_LINE_ENDS = "\x0b\x0c\x1c\x1d\x1e"
# A header line as the feed parser's headerRE takes it, with a field name (none is a defect).
_FIELD = re.compile(r"[\041-\071\073-\176]+:")
# What may follow `--boundary` on a boundary line (the feed parser's boundary expression).
_BOUNDARY_REST = re.compile(r"(--)?[ \t]*(\r\n|\n)?")
_TRAILING_EOL = re.compile(r"(\r\n|\n)\Z")
_BLANK = ("\n", "\r\n")


class _Unusual(Exception):
    """A message the fast path would not read exactly as the feed parser: use the parser."""


def parse_message(raw: bytes) -> Message:
    """`raw` parsed: the tree `email.message_from_bytes(raw)` gives (compat32), equal to it."""
    message = report_tree(raw)
    return message if message is not None else message_from_bytes(raw)


def report_tree(raw: bytes) -> Message | None:
    """The tree `email.message_from_bytes(raw)` gives, read without the feed parser; None
    for a message of a shape only the feed parser reads (see the module's docstring)."""
    text = raw.decode("ascii", "surrogateescape")  # As BytesParser decodes it.
    # A lone CR ends a line for the feed parser; left to it (substring counts: a regular
    # expression scanning for one took a tenth of the parse).
    if text.count("\r") != text.count("\r\n") or any(odd in text for odd in _ODD_LINE_ENDS):
        return None
    lines = text.splitlines(keepends=True)
    try:
        return _entity(lines, 0, len(lines), 0)[0]
    except _Unusual:
        return None


def _entity(lines: list[str], start: int, end: int, depth: int) -> tuple[Message, Message]:
    """The entity in lines[start:end] (`end`: where an enclosing boundary stops it) and the
    last message the feed parser would have made while reading it."""
    if depth > MAX_DEPTH:
        raise _Unusual
    message = Message()
    body = _headers(message, lines, start, end)
    kind = message.get_content_type()
    if kind == "message/delivery-status":
        return message, _status_blocks(message, lines, body, end)
    major = kind.partition("/")[0]
    if major == "message":
        inner, last = _entity(lines, body, end, depth + 1)
        message.attach(inner)
        return message, last
    if major == "multipart":
        _multipart(message, kind, lines, body, end, depth)
        return message, message
    message.set_payload("".join(lines[body:end]))
    return message, message


def _headers(message: Message, lines: list[str], start: int, end: int) -> int:
    """The header fields at lines[start:end] set on `message`; where its body starts."""
    fields: list[list[str]] = []
    index = start
    while index < end:
        line = lines[index]
        index += 1
        if line in _BLANK:
            break  # The separator, consumed.
        if line[0] in " \t":
            if not fields:
                raise _Unusual  # A first line that continues nothing: a defect.
            fields[-1].append(line)
        elif line.startswith("From ") or not _FIELD.match(line):
            raise _Unusual  # An envelope line, or a body without its blank line.
        else:
            fields.append([line])
    for first, *rest in fields:
        # compat32.header_source_parse, without a call per field.
        name, value = first.split(":", 1)
        message.set_raw(name, (value.lstrip(" \t") + "".join(rest)).rstrip("\r\n"))
    return index


def _status_blocks(message: Message, lines: list[str], start: int, end: int) -> Message:
    """The blocks of fields of a delivery-status part, each a message of its own, as the feed
    parser reads them: one at `start` whatever follows, then one after each blank line."""
    index = start
    while True:
        block = Message()
        message.attach(block)
        stop = index
        while stop < end and lines[stop] not in _BLANK:
            stop += 1
        _headers(block, lines, index, stop)
        if "content-type" in block:
            raise _Unusual  # A block the parser would read as a MIME entity of its own.
        block.set_payload("")
        index = stop + 1  # The blank line, consumed.
        if index >= end:
            return block


def _multipart(
    message: Message, kind: str, lines: list[str], start: int, end: int, depth: int
) -> None:
    """The parts, preamble and epilogue of a multipart, as the feed parser sets them."""
    boundary = message.get_boundary()
    encoding = str(message.get("content-transfer-encoding", "8bit")).lower()
    if boundary is None or kind == "multipart/digest" or encoding not in ("7bit", "8bit", "binary"):
        raise _Unusual  # Defects, or parts of another default type.
    separator = "--" + boundary
    marks: list[tuple[int, bool, bool]] = []  # (line, closes, ends in a line break)
    for index in range(start, end):
        line = lines[index]
        if line.startswith(separator):
            found = _BOUNDARY_REST.fullmatch(line, len(separator))
            if found is not None:
                marks.append((index, bool(found[1]), bool(found[2])))
                if found[1]:
                    break
    if not marks or marks[0][1] or not marks[-1][1]:
        raise _Unusual  # No start or no close: defects.
    if start < marks[0][0]:
        preamble = "".join(lines[start : marks[0][0]])
        message.preamble = _TRAILING_EOL.sub("", preamble, 1)
    for (at, _, _), (following, _, _) in pairwise(marks):
        if following == at + 1:
            raise _Unusual  # Empty parts between repeated boundaries.
        part, last = _entity(lines, at + 1, following, depth + 1)
        message.attach(part)
        # The line break before a boundary belongs to the boundary, not to the part.
        if last.get_content_maintype() == "multipart":
            if last.epilogue == "":
                last.epilogue = None
            elif last.epilogue is not None:
                last.epilogue = _TRAILING_EOL.sub("", last.epilogue, 1)
        else:
            # As stored: get_payload() would decode raw 8-bit bytes.
            payload = vars(last)["_payload"]
            if isinstance(payload, str):
                last.set_payload(_TRAILING_EOL.sub("", payload, 1))
    close = marks[-1][0]
    message.epilogue = "".join(lines[close + 1 : end])
