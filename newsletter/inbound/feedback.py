"""Spam complaints: ARF feedback reports (RFC 5965) and Microsoft's JMRP reports.

Yahoo, AOL, Fastmail, Comcast and the other feedback loops send a `multipart/report;
report-type=feedback-report`: a human part, a `message/feedback-report` part (Feedback-Type,
Original-Rcpt-To, Removal-Recipient...) and the original message or its headers. Microsoft's
JMRP returns the original as an attachment with the reader's address in
`X-HmXmrOriginalRecipient`. Providers often redact the recipient: what is known is kept, and
our VERP Return-Path in the returned headers is what ties the complaint to our delivery.
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.message_text import (
    MAX_BODY_CHARACTERS,
    address_in,
    header_text,
    headers_of,
    part_text,
)
from newsletter.inbound.notices import Kind, Notice
from newsletter.inbound.references import returned_message_id

# Feedback types that are no reader's complaint: a reader saying "not spam", or an
# authentication failure report (RFC 6591) about the sending domain.
_NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure", "dmarc", "virus"})
# Microsoft's junk mail reporting program marks the returned original with this header.
JMRP_RECIPIENT = "X-HmXmrOriginalRecipient"


def feedback_notice(report: Message | None, returned: Message | None) -> Notice:
    """The notice of an ARF report: a COMPLAINT (UNKNOWN for not-spam and authentication
    failure reports) with the recipient, the returned Message-ID and Return-Path it gives.

    `report` is the `message/feedback-report` part's fields, `returned` the returned
    original's headers; either may be missing.
    """
    fields = report if report is not None else Message()
    feedback_type = header_text(fields, "Feedback-Type").lower()
    kind = Kind.UNKNOWN if feedback_type in _NOT_COMPLAINTS else Kind.COMPLAINT
    recipient = address_in(header_text(fields, "Original-Rcpt-To")) or address_in(
        header_text(fields, "Removal-Recipient")
    )
    if returned is not None:
        recipient = recipient or address_in(header_text(returned, JMRP_RECIPIENT))
        recipient = recipient or address_in(header_text(returned, "To"))
    if recipient.lower().startswith("redacted@"):
        recipient = ""  # AOL and others put a placeholder where the reader's address was.
    verp = address_in(header_text(returned, "Return-Path")) if returned is not None else ""
    return Notice(
        kind=kind,
        recipient=recipient,
        diagnostic=f"feedback-type: {feedback_type or 'abuse'}",
        # The envelope sender of the original (RFC 5965's Original-Mail-From) is our VERP
        # address too, when the returned headers are missing.
        verp=verp or address_in(header_text(fields, "Original-Mail-From")),
        message_id=returned_message_id(returned) if returned is not None else "",
    )


def report_fields(part: Message) -> Message | None:
    """The fields of a `message/feedback-report` part, None when it holds none."""
    payload = part.get_payload()
    if isinstance(payload, list):
        fields = next((block for block in payload if isinstance(block, Message)), None)
    else:
        fields = headers_of(part_text(part))
    if fields is None:
        return None
    # RFC 5965 has one block; some senders put blank lines in it, which the parser takes for
    # the end of the fields: the rest is read as fields too.
    rest = fields.get_payload()
    if isinstance(rest, str) and ":" in rest:
        for name, value in headers_of(rest[:MAX_BODY_CHARACTERS]).items():
            if fields.get(name) is None:
                fields[name] = value
    return fields


def is_jmrp(returned: Message | None) -> bool:
    """Whether a returned original carries Microsoft's JMRP recipient mark."""
    return returned is not None and returned.get(JMRP_RECIPIENT) is not None
