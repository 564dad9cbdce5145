"""What every provider's webhook shares: why a request is refused, the digest that makes an
event count once, the age of a signed timestamp, and a failure's kind from its status code."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from newsletter.errors import NewsletterError
from newsletter.inbound.message_text import value_text
from newsletter.inbound.notices import Kind, Reading, digest_of
from newsletter.inbound.status_codes import judge, status_in

MAX_AGE = 300.0
"""Seconds a signed timestamp may be old (or ahead of our clock) by default."""
TEXT_LIMIT = 500
"""Characters kept of a provider's diagnostic text."""
_MESSAGE_ID = re.compile(r"<?([^<>\s@]{1,200}@[^<>\s@]{1,200})>?")


class Rejected(NewsletterError):
    """The request is not from the provider (bad, missing or stale signature): 403.

    `reason` is one of a few fixed phrases, never the request's own words.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __reduce__(self) -> tuple[type[Rejected], tuple[object, ...]]:
        return (type(self), (self.reason,))


class Malformed(NewsletterError):
    """The request is signed (or needs no signature) but its body is not what the provider
    sends: not JSON, or not the documented shape: 400."""


class Misconfigured(NewsletterError):
    """Our own setting for a provider cannot be used (an unreadable certificate, a public key
    that is no EC key): 503 until the operator fixes it, so the provider retries."""


class Webhook(Protocol):
    """One provider's endpoint, with its secrets."""

    name: str

    def accept(self, body: bytes, headers: Mapping[str, str], now: datetime) -> list[Reading]:
        """The request's events read, once its signature is checked; raises Rejected,
        Malformed or Misconfigured and reads nothing when it cannot be trusted."""
        ...


def json_body(body: bytes) -> Any:
    """The JSON value of a request body; Malformed for anything else (bad UTF-8, NaN...)."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Malformed("the body is not JSON") from error


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_age(timestamp: float, now: datetime, max_age: float) -> None:
    """Rejected unless `timestamp` (Unix seconds) is within `max_age` of `now`, either way:
    a captured request cannot be replayed later, and a clock far ahead is no signature."""
    if not math.isfinite(timestamp) or abs(now.timestamp() - timestamp) > max_age:
        raise Rejected("the signed timestamp is too old or in the future")


def event_digest(provider: str, event_id: str, event: Any) -> str:
    """A Reading's digest: of the provider's event id, or of the event's canonical JSON when
    it has none, so the same event posted again is recognized as a duplicate."""
    if event_id:
        return digest_of(f"{provider}:id:{event_id}".encode())
    try:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError) as error:
        raise Malformed("the event cannot be read") from error
    return digest_of(f"{provider}:json:{canonical}".encode("utf-8", "surrogatepass"))


def text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A JSON value from a provider as one line of at most `limit` characters ("" for none)."""
    return value_text(value, limit)


def message_id(value: Any) -> str:
    """A Message-ID as `<left@right>`, "" when `value` holds none."""
    match = _MESSAGE_ID.fullmatch(text(value))
    return f"<{match.group(1)}>" if match else ""


def failure(status: str, said: str, smtp_code: int, *, permanent: bool) -> tuple[Kind, str]:
    """A provider's failed delivery: its kind and the status code that decided it, judged as
    any bounce is (inbound/status_codes.py: the enhanced status, a generic one giving way to
    the code in the server's words, then the words); what that leaves undecided, by the SMTP
    reply code, then by the provider's own word (`permanent`)."""
    kind, code = judge(status, said)
    if kind in (Kind.UNKNOWN, Kind.DELIVERED, Kind.DELAY):  # A failure, whatever it says.
        kind = Kind.SOFT if 400 <= smtp_code < 500 or not permanent else Kind.HARD
    return kind, code or status_in(status)


def as_int(value: Any) -> int:
    """A JSON number or numeric string as an int, 0 for anything else."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value.strip())
    return 0
