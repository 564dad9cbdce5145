"""What ties a report to our delivery: the address it came back to and the returned Message-ID.

Strongest first: the VERP address the report was delivered to (signed, checked by the
processor), the Message-ID of our returned message, the recipient's address.
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.message_text import (
    MAX_BODY_CHARACTERS,
    address_in,
    header_text,
    header_texts,
    headers_of,
    part_text,
)

# Where the address a message was delivered to is written, most precise first. Postfix and
# most delivery agents write Delivered-To, Postfix also X-Original-To (before aliases), Exim
# Envelope-To; To is what is left when the mailbox adds none of them.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_RETURNING_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)
# `Message-ID: <...>` in a quoted original (non-MIME bounces), also indented or `> `-quoted.
_QUOTED_MESSAGE_ID = re.compile(
    r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]{1,250}>)", re.IGNORECASE | re.MULTILINE
)


def verp_of(message: Message) -> str:
    """The address `message` was delivered to, "" when no header says it."""
    for name in RECIPIENT_HEADERS:
        values = header_texts(message, name)
        if not values:
            continue
        # Each delivery adds a Delivered-To on top: a mailbox forwarded on adds its own above
        # ours, so the bottom one is the address the sender wrote.
        value = values[-1] if name == "Delivered-To" else values[0]
        found = address_in(value)
        if found:
            return found
    return ""


def returned_headers(part: Message, kind: str) -> Message | None:
    """The headers of the original a part of type `kind` returns (`message/rfc822`,
    `text/rfc822-headers`, `message/rfc822-headers`), None when the part returns none."""
    if kind not in _RETURNING_TYPES:
        return None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]  # The parser read the returned message already.
    return headers_of(part_text(part))


def returned_message_id(returned: Message) -> str:
    """The Message-ID of a returned original, `<...>`, "" when it has none."""
    value = header_text(returned, "Message-ID")
    start, end = value.find("<"), value.find(">")
    if 0 <= start < end:
        return value[start : end + 1]
    return value.split()[0] if value.split() else ""


def quoted_message_id(text: str) -> str:
    """The first `Message-ID: <...>` line quoted in a bounce's text, "" when there is none."""
    found = _QUOTED_MESSAGE_ID.search(text, 0, MAX_BODY_CHARACTERS)
    return found[1] if found else ""


def first_message_id(value: str) -> str:
    """The first `<...>` message id in In-Reply-To or References, "" when there is none."""
    start = value.find("<")
    end = value.find(">", start)
    return value[start : end + 1] if 0 <= start < end else ""
