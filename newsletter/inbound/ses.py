"""Amazon SES notifications (bounce, complaint, delivery), by email or by webhook.

SES sends the same JSON either way: as the body of an email to the notification address, or
in the `Message` string of an SNS notification (the webhook, whose signature the web layer
checks). `ses_notices` turns one notification into notices; both paths use it.

    {"notificationType": "Bounce",            (or "eventType" with event publishing)
     "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress", "action", "status", "diagnosticCode"}]},
     "mail": {"source": envelope sender, "headers": [{"name", "value"}],
              "commonHeaders": {"messageId": ...}}}
"""

from __future__ import annotations

import json
from typing import Any

from newsletter.inbound.message_text import address_in, value_text
from newsletter.inbound.notices import Kind, Notice
from newsletter.inbound.status_codes import judge

MAX_RECIPIENTS = 100
# bounceSubType values whose meaning is plain whatever the bounceType says.
_SUBTYPE_KINDS = {
    "mailboxfull": Kind.SOFT,
    "messagetoolarge": Kind.SOFT,
    "contentrejected": Kind.POLICY,
    "attachmentrejected": Kind.POLICY,
    "noemail": Kind.HARD,
    "suppressed": Kind.HARD,
    "onaccountsuppressionlist": Kind.HARD,
}
_NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure", "virus"})


def ses_notices(notification: dict[str, Any]) -> list[Notice]:
    """The notices of one SES notification: one per bounced, complained or delivered
    recipient; [] for any other type or shape (never raises on a malformed one)."""
    kind_name = value_text(notification.get("notificationType") or notification.get("eventType"))
    mail = _mapping(notification.get("mail"))
    verp = address_in(value_text(mail.get("source")))
    message_id = _original_message_id(mail)
    common = {"verp": verp, "message_id": message_id}
    kind_name = kind_name.lower()
    if kind_name == "bounce":
        return _bounce_notices(_mapping(notification.get("bounce")), common)
    if kind_name == "complaint":
        complaint = _mapping(notification.get("complaint"))
        feedback = value_text(complaint.get("complaintFeedbackType")).lower()
        kind = Kind.UNKNOWN if feedback in _NOT_COMPLAINTS else Kind.COMPLAINT
        return [
            Notice(
                kind=kind,
                recipient=recipient,
                diagnostic=f"complaint: {feedback or 'abuse'}",
                **common,
            )
            for recipient in _addresses(complaint.get("complainedRecipients"))
        ]
    if kind_name == "delivery":
        delivery = _mapping(notification.get("delivery"))
        response = value_text(delivery.get("smtpResponse"))
        return [
            Notice(
                kind=Kind.DELIVERED,
                recipient=address_in(value_text(item)),
                diagnostic=response,
                **common,
            )
            for item in _list(delivery.get("recipients"))
        ]
    if kind_name == "deliverydelay":
        delay = _mapping(notification.get("deliveryDelay"))
        return [
            Notice(
                kind=Kind.DELAY,
                recipient=address_in(value_text(item.get("emailAddress"))),
                status=value_text(item.get("status")),
                diagnostic=value_text(item.get("diagnosticCode"))
                or value_text(delay.get("delayType")),
                **common,
            )
            for item in map(_mapping, _list(delay.get("delayedRecipients")))
        ]
    return []


def ses_notification_in(text: str) -> dict[str, Any] | None:
    """The SES notification an email body holds (bare, or wrapped in an SNS notification's
    `Message` string), None when the body is no such JSON."""
    start = text.find("{")
    if start < 0 or text[:start].strip():
        return None
    try:
        data = json.loads(text[start : text.rfind("}") + 1])
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            data = json.loads(data["Message"])  # The SNS envelope: the notification inside.
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and (data.get("notificationType") or data.get("eventType")):
        return data
    return None


def _bounce_notices(bounce: dict[str, Any], common: dict[str, str]) -> list[Notice]:
    bounce_type = value_text(bounce.get("bounceType")).lower()
    subtype = value_text(bounce.get("bounceSubType")).replace(" ", "").lower()
    notices = []
    for item in map(_mapping, _list(bounce.get("bouncedRecipients"))[:MAX_RECIPIENTS]):
        diagnostic = value_text(item.get("diagnosticCode"))
        judged, status = judge(value_text(item.get("status")), diagnostic)
        kind = _SUBTYPE_KINDS.get(subtype)
        if kind is None and bounce_type == "permanent":
            # SES says permanent for a full mailbox too; the code, when it says more, decides.
            kind = judged if judged in (Kind.HARD, Kind.SOFT, Kind.POLICY) else Kind.HARD
        elif kind is None and bounce_type == "transient":
            kind = Kind.POLICY if judged is Kind.POLICY else Kind.SOFT
        elif kind is None:
            kind = judged  # Undetermined: only the code and words can tell.
        notices.append(
            Notice(
                kind=kind,
                recipient=address_in(value_text(item.get("emailAddress"))),
                status=status or value_text(item.get("status")),
                diagnostic=diagnostic or f"ses: {bounce_type} {subtype}".strip(),
                **common,
            )
        )
    return notices


def _original_message_id(mail: dict[str, Any]) -> str:
    """Our Message-ID as sent (SES's own `messageId` is its id, not ours)."""
    for header in map(_mapping, _list(mail.get("headers"))):
        if value_text(header.get("name")).lower() == "message-id":
            return value_text(header.get("value"))
    return value_text(_mapping(mail.get("commonHeaders")).get("messageId"))


def _addresses(items: object) -> list[str]:
    return [
        address_in(value_text(_mapping(item).get("emailAddress")))
        for item in _list(items)[:MAX_RECIPIENTS]
    ]


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value[:MAX_RECIPIENTS] if isinstance(value, list) else []
