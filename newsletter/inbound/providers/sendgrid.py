"""SendGrid's event webhook: bounce (type bounce or blocked), dropped, spamreport,
unsubscribe, group_unsubscribe, deferred, delivered.

SendGrid posts a JSON array of events. With the signed event webhook on, each request carries
X-Twilio-Email-Event-Webhook-Signature (base64 of a DER ECDSA P-256 signature) and
X-Twilio-Email-Event-Webhook-Timestamp; the signature covers the timestamp followed by the raw
body, made with the key whose public half SendGrid shows as base64 DER
(NEWSLETTER_SENDGRID_PUBLIC_KEY). `sg_event_id` is each event's id; `smtp-id` the Message-ID
SendGrid saw (ours when we set one), or a custom argument `message_id`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from newsletter.inbound.notices import Kind, Notice, Reading
from newsletter.inbound.providers.events import (
    MAX_AGE,
    Malformed,
    Misconfigured,
    Rejected,
    check_age,
    event_digest,
    failure,
    json_body,
    message_id,
    text,
)
from newsletter.inbound.status_codes import status_in

SOURCE = "webhook:sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
SIMPLE = {
    "spamreport": Kind.COMPLAINT,
    "unsubscribe": Kind.UNSUBSCRIBE,
    "group_unsubscribe": Kind.UNSUBSCRIBE,
    "deferred": Kind.DELAY,
    "delivered": Kind.DELIVERED,
}


def public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """The P-256 key of NEWSLETTER_SENDGRID_PUBLIC_KEY (base64 DER, as SendGrid shows it)."""
    try:
        key = load_der_public_key(base64.b64decode("".join(encoded.split()), validate=True))
    except (binascii.Error, ValueError) as error:
        raise Misconfigured(
            "NEWSLETTER_SENDGRID_PUBLIC_KEY is not a base64 DER public key",
            hint="copy the verification key from SendGrid's Mail Settings > Signed Event Webhook",
        ) from error
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise Misconfigured(
            "NEWSLETTER_SENDGRID_PUBLIC_KEY is not an ECDSA P-256 key",
            hint="copy the verification key from SendGrid's Mail Settings > Signed Event Webhook",
        )
    return key


def verify(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    key: ec.EllipticCurvePublicKey,
    *,
    now: datetime,
    max_age: float = MAX_AGE,
) -> None:
    """Rejected unless `signature` is SendGrid's ECDSA signature of `timestamp` + `body` by
    `key`, and the timestamp is within `max_age` seconds of `now`."""
    if not signature or not timestamp:
        raise Rejected("missing signature")
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature, UnicodeEncodeError):
        raise Rejected("bad signature") from None
    try:
        seconds = float(timestamp)
    except ValueError:
        raise Rejected("bad signature") from None
    check_age(seconds, now, max_age)


def readings(events: Any) -> list[Reading]:
    """One Reading per event that concerns a subscription (not processed, open, click)."""
    if not isinstance(events, list):
        raise Malformed("SendGrid's event webhook posts a JSON array")
    found = []
    for event in events:
        if not isinstance(event, dict):
            raise Malformed("SendGrid's events are JSON objects")
        notice = _notice(event)
        if notice is None:
            continue
        details = {"type": text(event.get("event"), 40)}
        for key, shown in (("type", "bounce_type"), ("reason", "reason"),
                           ("bounce_classification", "bounce_classification")):  # fmt: skip
            if event.get(key):
                details[shown] = text(event.get(key), 200)
        found.append(
            Reading(
                digest=event_digest("sendgrid", text(event.get("sg_event_id"), 200), event),
                notices=(notice,),
                source=SOURCE,
                details=details,
            )
        )
    return found


def _notice(event: dict[str, Any]) -> Notice | None:
    """What one event says, None for events that say nothing about a subscription."""
    name = text(event.get("event"), 40)
    recipient = text(event.get("email"), 320)
    ours = message_id(event.get("smtp-id")) or message_id(event.get("message_id"))
    said = text(event.get("reason")) or text(event.get("response"))
    given = text(event.get("status"), 20)
    status = status_in(given)
    if name == "bounce":
        # "blocked" is SendGrid's word for a refusal that may pass (reputation, a block list).
        blocked = text(event.get("type")) == "blocked"
        smtp_code = int(said[:3]) if said[:3].isdigit() else 0
        kind, status = failure(given, said, smtp_code, permanent=not blocked)
    elif name == "dropped":
        # SendGrid did not send: its own suppression list or an invalid address. What put the
        # address there was reported when it happened; store it, change nothing.
        kind = Kind.POLICY
    elif name in SIMPLE:
        kind = SIMPLE[name]
    else:
        return None
    return Notice(kind, recipient=recipient, status=status, diagnostic=said, message_id=ours)


class SendGridWebhook:
    """SendGrid's endpoint, with the signed event webhook's public key."""

    name = "sendgrid"

    def __init__(self, encoded_key: str, max_age: float = MAX_AGE) -> None:
        self.encoded_key = encoded_key
        self.max_age = max_age

    def accept(self, body: bytes, headers: Mapping[str, str], now: datetime) -> list[Reading]:
        """The events read, once the signature over timestamp and raw body is checked."""
        key = public_key(self.encoded_key)
        verify(
            body,
            headers.get(SIGNATURE_HEADER),
            headers.get(TIMESTAMP_HEADER),
            key,
            now=now,
            max_age=self.max_age,
        )
        return readings(json_body(body))
