"""Mailgun's webhooks: failed (permanent or temporary), complained, unsubscribed, delivered.

Mailgun posts one JSON object per event: `signature` {timestamp, token, signature} and
`event-data`. The signature is the hex HMAC-SHA256 of timestamp + token with the webhook
signing key (NEWSLETTER_MAILGUN_SIGNING_KEY); the timestamp must be recent. `event-data.id` is
the event id; `message.headers.message-id` is the Message-ID we sent (without brackets).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from newsletter.inbound.notices import Kind, Notice, Reading
from newsletter.inbound.providers.events import (
    MAX_AGE,
    Malformed,
    Rejected,
    as_int,
    check_age,
    event_digest,
    failure,
    json_body,
    message_id,
    text,
)

SOURCE = "webhook:mailgun"
# A permanent failure of a message Mailgun did not even try: the address is on its own list.
SUPPRESSED = {
    "suppress-bounce": Kind.HARD,  # It hard-bounced before: it will not take mail.
    "suppress-complaint": Kind.POLICY,  # The complaint itself was reported when it came.
    "suppress-unsubscribe": Kind.POLICY,  # So was the unsubscribe.
    "espblock": Kind.POLICY,
}
SIMPLE = {
    "complained": Kind.COMPLAINT,
    "unsubscribed": Kind.UNSUBSCRIBE,
    "delivered": Kind.DELIVERED,
}


def verify(payload: Any, signing_key: str, *, now: datetime, max_age: float = MAX_AGE) -> None:
    """Rejected unless `payload["signature"]` is Mailgun's HMAC of its timestamp and token with
    `signing_key`, and the timestamp is within `max_age` seconds of `now`."""
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise Rejected("missing signature")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(value, str) and value for value in (timestamp, token, given)):
        raise Rejected("missing signature")
    assert isinstance(timestamp, str) and isinstance(token, str) and isinstance(given, str)
    expected = hmac.new(
        signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8")):
        raise Rejected("bad signature")
    try:
        seconds = float(timestamp)
    except ValueError:
        raise Rejected("bad signature") from None
    check_age(seconds, now, max_age)


def readings(payload: Any) -> list[Reading]:
    """The Reading of one Mailgun event ([] for events about opens, clicks and acceptance)."""
    event = payload.get("event-data") if isinstance(payload, dict) else None
    if not isinstance(event, dict):
        raise Malformed("a Mailgun webhook carries event-data")
    name = text(event.get("event"), 40)
    if name == "failed":
        notice = _failure(event)
    elif name in SIMPLE:
        notice = Notice(SIMPLE[name], recipient=_recipient(event), message_id=_message_id(event))
    else:
        return []
    details = {"type": name}
    for key in ("severity", "reason"):
        if event.get(key):
            details[key] = text(event.get(key), 40)
    return [
        Reading(
            digest=event_digest("mailgun", text(event.get("id"), 200), event),
            notices=(notice,),
            source=SOURCE,
            details=details,
        )
    ]


def _failure(event: dict[str, Any]) -> Notice:
    """A failed event's notice: a temporary failure is a delay (Mailgun tries again); a
    permanent one by its reason and the receiving server's codes."""
    status_block = event.get("delivery-status")
    delivery = status_block if isinstance(status_block, dict) else {}
    smtp_code = as_int(delivery.get("code"))
    said = text(delivery.get("message")) or text(delivery.get("description"))
    given = text(delivery.get("enhanced-code"), 20)
    kind, status = failure(given, said, smtp_code if smtp_code < 600 else 0, permanent=True)
    reason = text(event.get("reason"), 40)
    if text(event.get("severity")) == "temporary":
        kind = Kind.DELAY
    elif reason in SUPPRESSED:
        kind = SUPPRESSED[reason]
    elif reason == "old":
        kind = Kind.SOFT  # Mailgun gave up after retrying temporary failures.
    diagnostic = f"{smtp_code} {said}".strip() if 200 <= smtp_code < 600 else said
    return Notice(
        kind,
        recipient=_recipient(event),
        status=status,
        diagnostic=diagnostic,
        message_id=_message_id(event),
    )


def _recipient(event: dict[str, Any]) -> str:
    return text(event.get("recipient"), 320)


def _message_id(event: dict[str, Any]) -> str:
    message = event.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    return message_id(headers.get("message-id")) if isinstance(headers, dict) else ""


class MailgunWebhook:
    """Mailgun's endpoint, with the webhook signing key."""

    name = "mailgun"

    def __init__(self, signing_key: str, max_age: float = MAX_AGE) -> None:
        self.signing_key = signing_key
        self.max_age = max_age
        # Mailgun's signature covers its timestamp and token, not the event: a token is bound
        # to the first event it came with (Mailgun's advice: refuse a token used before).
        # Kept while its timestamp is within max_age; older ones are refused by their age.
        self._tokens: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def accept(self, body: bytes, headers: Mapping[str, str], now: datetime) -> list[Reading]:
        """The event read, once its signature and timestamp are checked and its token was
        not used with another event (the same request again is read again: a duplicate)."""
        payload = json_body(body)
        verify(payload, self.signing_key, now=now, max_age=self.max_age)
        found = readings(payload)
        signature = payload["signature"]
        token, seconds = str(signature["token"]).strip(), float(signature["timestamp"])
        events = tuple(reading.digest for reading in found)
        with self._lock:
            oldest = now.timestamp() - self.max_age
            for old in [key for key, (at, _) in self._tokens.items() if at < oldest]:
                del self._tokens[old]
            first = self._tokens.setdefault(token, (seconds, events))
        if first[1] != events:
            raise Rejected("the signature's token came with another event")
        return found
