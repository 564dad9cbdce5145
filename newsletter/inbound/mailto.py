"""Mail to the List-Unsubscribe mailto address (RFC 8058's mailto path).

Every issue's List-Unsubscribe header offers `mailto:ADDRESS?subject=unsubscribe%20TOKEN`;
the reader's mail program sends a message whose subject is `unsubscribe TOKEN`. People also
write it by hand, reply to it, or put the token on the first line of the body. The token is
only found here; the processor checks its signature before it unsubscribes anyone.
"""

from __future__ import annotations

import re
from email.message import Message
from urllib.parse import unquote

from newsletter.inbound.message_text import header_text, part_text

# subscribers/tokens.py: `ID.BINDING.TIMESTAMP.SIGNATURE` (itsdangerous, URL-safe base64).
TOKEN = re.compile(r"\d{1,20}\.[0-9a-f]{16}\.[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{16,128}")
_PREFIXES = re.compile(r"^(?:\s*(?:re|fwd?|aw|wg|sv|tr|r)\s*(?:\[\d+\])?\s*:)*\s*", re.IGNORECASE)
_WORD = re.compile(r"unsubscribe\b", re.IGNORECASE)
_FULL_TOKEN = re.compile(rf"^{TOKEN.pattern}$")


def unsubscribe_token(message: Message) -> str | None:
    """The token of an unsubscribe request: "" when the subject asks to unsubscribe but no
    token is found, None when the message is no unsubscribe request."""
    subject = unquote(_PREFIXES.sub("", header_text(message, "Subject"), count=1))
    if not _WORD.match(subject):
        return None
    words = subject.split()
    if len(words) > 1 and _FULL_TOKEN.match(words[1]):
        return words[1]
    for word in _first_words(message):
        if _FULL_TOKEN.match(word):
            return word
    return ""


def _first_words(message: Message) -> list[str]:
    """The first two words of the first text/plain part (`TOKEN`, or `unsubscribe TOKEN`)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part_text(part, 2000).split()[:2]
    return []
