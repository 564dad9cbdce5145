"""Postmark's webhooks: Bounce, SpamComplaint, SubscriptionChange and Delivery.

Postmark signs nothing: the webhook URL carries HTTP Basic credentials
(`https://postmark:SECRET@news.example.org/webhooks/postmark`) and the password must equal
NEWSLETTER_POSTMARK_WEBHOOK_SECRET (the user name is not checked: the secret is the key).
Postmark posts one record per request; a Bounce's `ID` is the event id. Its `MessageID` is
Postmark's own, so our Message-ID is looked for in `Metadata` (`message_id`) and in the bounced
message's content when the webhook includes it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from newsletter.inbound.notices import Kind, Notice, Reading
from newsletter.inbound.providers.events import (
    Malformed,
    Rejected,
    event_digest,
    json_body,
    message_id,
    text,
)
from newsletter.inbound.status_codes import status_in

SOURCE = "webhook:postmark"
# Postmark's bounce TypeCodes (its Bounce API's "bounce types") and what each is here.
BOUNCE_KINDS: dict[int, Kind] = {
    1: Kind.HARD,  # HardBounce: unknown user, mailbox not found
    2: Kind.DELAY,  # Transient: delayed, still being tried
    # Unsubscribe: a reply Postmark read as "remove me". Its From can be forged, so a human
    # decides; a click on Postmark's own unsubscribe link comes as a SubscriptionChange.
    16: Kind.UNKNOWN,
    32: Kind.UNKNOWN,  # Subscribe request
    64: Kind.AUTOREPLY,  # AutoResponder: out of office, vacation
    128: Kind.AUTOREPLY,  # AddressChange: "I have moved to..."
    256: Kind.SOFT,  # DnsError: a temporary DNS error
    512: Kind.POLICY,  # SpamNotification: refused as spam or bulk by the receiver
    1024: Kind.UNKNOWN,  # OpenRelayTest
    2048: Kind.UNKNOWN,  # Unknown: Postmark could not classify it
    4096: Kind.SOFT,  # SoftBounce: mailbox full, over quota
    8192: Kind.POLICY,  # VirusNotification
    16384: Kind.AUTOREPLY,  # ChallengeVerification: a challenge-response filter
    100000: Kind.HARD,  # BadEmailAddress: not a valid address
    100001: Kind.COMPLAINT,  # SpamComplaint
    100002: Kind.UNKNOWN,  # ManuallyDeactivated
    100003: Kind.UNKNOWN,  # Unconfirmed
    100006: Kind.POLICY,  # Blocked: by the receiver's policy or reputation
    100007: Kind.UNKNOWN,  # SMTPApiError
    100008: Kind.UNKNOWN,  # InboundError
    100009: Kind.POLICY,  # DMARCPolicy
    100010: Kind.UNKNOWN,  # TemplateRenderingFailed
}
_MESSAGE_ID_LINE = re.compile(r"^Message-ID:[ \t]*(<[^<>\s]{3,400}>)", re.IGNORECASE | re.MULTILINE)


def verify(authorization: str | None, secret: str) -> None:
    """Rejected unless the Basic credentials' password equals `secret` (constant-time)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Rejected("missing credentials")
    try:
        credentials = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("bad credentials") from None
    _user, colon, password = credentials.partition(b":")
    if not colon or not hmac.compare_digest(password, secret.encode("utf-8")):
        raise Rejected("bad credentials")


def readings(record: Any) -> list[Reading]:
    """The Reading of one Postmark webhook record ([] for records about opens and clicks)."""
    if not isinstance(record, dict):
        raise Malformed("a Postmark webhook posts one JSON object")
    record_type = text(record.get("RecordType"), 40)
    if record_type in ("Bounce", "SpamComplaint"):
        notice = _bounce(record)
    elif record_type == "Delivery":
        notice = Notice(
            Kind.DELIVERED,
            recipient=text(record.get("Recipient"), 320),
            diagnostic=text(record.get("Details")),
            message_id=_our_message_id(record),
        )
    elif record_type == "SubscriptionChange":
        return _subscription_change(record)
    else:
        return []  # Open, Click: nothing to do with a subscription.
    event_id = text(record.get("ID"), 40) if record_type != "Delivery" else ""
    return [
        Reading(
            digest=event_digest(
                "postmark", f"{record_type}:{event_id}" if event_id else "", record
            ),
            notices=(notice,),
            source=SOURCE,
            details={"type": record_type, "bounce_type": text(record.get("Type"), 40)},
        )
    ]


def _bounce(record: dict[str, Any]) -> Notice:
    """A Bounce or SpamComplaint record's notice, its kind by the TypeCode."""
    code = record.get("TypeCode")
    # `type(...) is int`: JSON's true is a bool, which Python would take for the code 1.
    kind = BOUNCE_KINDS.get(code, Kind.UNKNOWN) if type(code) is int else Kind.UNKNOWN
    if text(record.get("RecordType")) == "SpamComplaint":
        kind = Kind.COMPLAINT
    details = text(record.get("Details"))
    return Notice(
        kind,
        recipient=text(record.get("Email"), 320),
        status=status_in(details),
        diagnostic=details or text(record.get("Description")),
        message_id=_our_message_id(record),
    )


def _subscription_change(record: dict[str, Any]) -> list[Reading]:
    """A change of Postmark's suppression list: only a reader's own unsubscribe is acted on.

    Postmark suppresses after a hard bounce or a complaint too, but the Bounce and
    SpamComplaint webhooks report those already: counting them again would double the rates.
    A reactivation (SuppressSending false) is stored for a human and changes nothing here.
    """
    reason = text(record.get("SuppressionReason"), 40)
    suppress = record.get("SuppressSending") is True
    details = {
        "type": "SubscriptionChange",
        "reason": reason,
        "origin": text(record.get("Origin"), 40),
    }
    notices: tuple[Notice, ...] = ()
    if suppress and reason == "ManualSuppression" and text(record.get("Origin")) == "Recipient":
        notices = (
            Notice(
                Kind.UNSUBSCRIBE,
                recipient=text(record.get("Recipient"), 320),
                message_id=_our_message_id(record),
            ),
        )
    elif not suppress:
        notices = (Notice(Kind.UNKNOWN, recipient=text(record.get("Recipient"), 320)),)
    return [
        Reading(
            digest=event_digest("postmark", "", record),
            notices=notices,
            source=SOURCE,
            details=details,
        )
    ]


def _our_message_id(record: dict[str, Any]) -> str:
    """Our Message-ID where a record carries it: Metadata (set with X-PM-Metadata-message_id),
    a Headers list, or the bounced message's content; never Postmark's own MessageID."""
    metadata = record.get("Metadata")
    if isinstance(metadata, dict):
        for key in ("message_id", "message-id", "Message-ID"):
            found = message_id(metadata.get(key))
            if found:
                return found
    headers = record.get("Headers")
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, dict) and text(header.get("Name")).lower() == "message-id":
                found = message_id(header.get("Value"))
                if found:
                    return found
    content = record.get("Content")
    if isinstance(content, str):
        match = _MESSAGE_ID_LINE.search(content[:200_000])
        if match:
            return message_id(match.group(1))
    return ""


class PostmarkWebhook:
    """Postmark's endpoint, with the password its webhook URL carries."""

    name = "postmark"

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def accept(self, body: bytes, headers: Mapping[str, str], now: datetime) -> list[Reading]:
        """The record read, once the credentials are checked."""
        verify(headers.get("authorization"), self.secret)
        return readings(json_body(body))
