"""What an inbound message says: `read_message(raw) -> Reading`, for every message, never raising.

The message is parsed once, then read as the first of these it is (`details["format"]`):

    an RFC 3464 delivery report    -> one notice per recipient block (dsn.py)          dsn
    an ARF or JMRP complaint       -> COMPLAINT (feedback.py)                          arf, jmrp
    an Amazon SES notification     -> the notices of its JSON (ses.py)                 ses
    an unsubscribe by mail         -> UNSUBSCRIBE with the token (mailto.py)           mailto
    any other bounce               -> flufl.bounce's recipients, judged by their words bounce
                                      (plain_bounces.py)
    an auto-reply                  -> AUTOREPLY (autoreply.py)                         autoreply
    a delay warning of no report   -> DELAY without a recipient                        delay
    anything else                  -> UNKNOWN, kept for a human                        unknown

Bounces come before auto-replies because MTAs mark bounces `Auto-Submitted: auto-replied`
too, and flufl.bounce's detectors only run when the message is no report (they are the slow
part). A message that cannot be read (empty, larger than MAX_MESSAGE_BYTES, no header, too
many parts or fields, cut short with nothing readable left) gives a Reading with `problem`
set and no notice; every other Reading has at least one notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.errors import MessageDefect
from email.message import Message

from newsletter.inbound.autoreply import is_autoreply
from newsletter.inbound.dsn import MAX_RECIPIENT_BLOCKS, dsn_notices
from newsletter.inbound.feedback import feedback_notice, is_jmrp, report_fields
from newsletter.inbound.mailto import unsubscribe_token
from newsletter.inbound.message_text import address_in, body_text, header_text
from newsletter.inbound.mime import parse_message
from newsletter.inbound.notices import Kind, Notice, Reading, digest_of
from newsletter.inbound.plain_bounces import (
    from_mail_system,
    is_delay_warning,
    own_words_of,
    plain_bounce_notices,
)
from newsletter.inbound.references import (
    first_message_id,
    quoted_message_id,
    returned_headers,
    returned_message_id,
    verp_of,
)
from newsletter.inbound.ses import ses_notices, ses_notification_in

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""Larger messages are not read: no bounce or report is this large, and parsing one would
hold up every message behind it."""
MAX_PARTS = 1000
"""A report has a handful of parts; a message with more is not read."""
MAX_FIELDS = 1000
"""A report has a few dozen header fields; a message with more is not read."""


@dataclass
class _Parts:
    """The parts of a message that tell what it is, found in one walk."""

    statuses: list[Message] = field(default_factory=list)
    feedback: Message | None = None
    returned: Message | None = None
    texts: list[Message] = field(default_factory=list)
    """The message's own text parts (none from inside a returned message)."""
    defects: list[MessageDefect] = field(default_factory=list)
    too_many: bool = False
    """More than MAX_PARTS parts: not read."""


def read_message(raw: bytes, *, source: str = "") -> Reading:
    """What `raw` says, as a Reading with its digest; `problem` set, and no notice, when it
    cannot be read. Never raises, whatever the bytes."""
    digest = digest_of(raw)
    if not raw.strip():
        return Reading(digest=digest, problem="empty message", source=source)
    if len(raw) > MAX_MESSAGE_BYTES:
        return Reading(digest=digest, problem="larger than 10 MB", source=source)
    if raw.count(b"\n--") > 2 * MAX_PARTS:
        # Boundary lines counted before parsing: the parser takes seconds over thousands of parts.
        return Reading(digest=digest, problem=f"more than {MAX_PARTS} MIME parts", source=source)
    try:
        return _read(raw, digest, source)
    except Exception as error:  # The promise is a Reading for any input; the cause is kept.
        log.exception("could not read an inbound message (digest %s)", digest)
        return Reading(
            digest=digest, problem=f"could not be read: {type(error).__name__}", source=source
        )


def _read(raw: bytes, digest: str, source: str) -> Reading:
    message = parse_message(raw)  # The tree message_from_bytes makes, faster for reports.
    if not message.keys():
        return Reading(digest=digest, problem="not an email message: no header", source=source)
    if len(message) > MAX_FIELDS:
        # No report has this many; looking up headers among them would take seconds each.
        return Reading(
            digest=digest, problem=f"more than {MAX_FIELDS} header fields", source=source
        )
    parts = _walk(message)
    if parts.too_many:
        return Reading(digest=digest, problem=f"more than {MAX_PARTS} MIME parts", source=source)
    details = {"subject": header_text(message, "Subject"), "from": header_text(message, "From")}
    notices, format_name = _notices(message, parts, raw)
    details["format"] = format_name
    if parts.defects:
        details["defects"] = ", ".join(sorted({type(d).__name__ for d in parts.defects}))
    if not notices and parts.defects:
        # A message cut short (a missing boundary, a header without its end) said nothing.
        return Reading(
            digest=digest,
            problem=f"truncated or malformed MIME: {details['defects']}",
            source=source,
            details=details,
        )
    if not notices:
        # Kept for a human, with what could still tie it to a delivery (a reader's reply
        # names our message in In-Reply-To).
        message_id = _returned_id(message, parts) or first_message_id(
            header_text(message, "In-Reply-To")
        )
        notices = [Notice(kind=Kind.UNKNOWN, verp=verp_of(message), message_id=message_id)]
    return Reading(digest=digest, notices=tuple(notices), source=source, details=details)


def _notices(message: Message, parts: _Parts, raw: bytes) -> tuple[list[Notice], str]:
    """The notices of a parsed message and the name of the format they were read in."""
    verp = verp_of(message)
    if parts.statuses:
        # A report is read as a report; a broken one (no recipient block) by its words.
        message_id = _returned_id(message, parts)
        notices: list[Notice] = []
        for status in parts.statuses:
            # The bound is per message, not per part: hundreds of parts are no report either.
            if len(notices) >= MAX_RECIPIENT_BLOCKS:
                break
            notices += dsn_notices(status, verp=verp, message_id=message_id)
        notices = notices[:MAX_RECIPIENT_BLOCKS]
        if notices:
            return notices, "dsn"
        text = body_text(parts.texts)
        return plain_bounce_notices(message, text, raw=raw, verp=verp, message_id=message_id), "dsn"
    if parts.feedback is not None or _is_report(message, "feedback-report"):
        fields = report_fields(parts.feedback) if parts.feedback is not None else None
        # The report goes to the feedback loop's address, not to a VERP one: the returned
        # Return-Path is the complaint's VERP (feedback_notice), and nothing else stands in.
        return [feedback_notice(fields, parts.returned)], "arf"
    if is_jmrp(parts.returned):
        return [feedback_notice(None, parts.returned)], "jmrp"
    text = body_text(parts.texts)
    notification = ses_notification_in(text) if text.lstrip().startswith("{") else None
    if notification is not None:
        return ses_notices(notification), "ses"
    token = unsubscribe_token(message)
    if token is not None and not is_autoreply(message):
        # An auto-reply to anything never unsubscribes, whatever its subject quotes.
        return [
            Notice(
                kind=Kind.UNSUBSCRIBE if token else Kind.UNKNOWN,
                recipient=address_in(header_text(message, "From")),
                verp=verp,
                unsubscribe_token=token,
            )
        ], "mailto"
    message_id = _returned_id(message, parts, text)
    # Bounces carry Auto-Submitted too: a message is an auto-reply only when it reports no
    # failed recipient.
    notices = plain_bounce_notices(message, text, raw=raw, verp=verp, message_id=message_id)
    if notices:
        return notices, "bounce"
    if is_autoreply(message) and not _looks_like_report(message):
        replied_to = first_message_id(header_text(message, "In-Reply-To")) or first_message_id(
            header_text(message, "References")
        )
        recipient = address_in(header_text(message, "From"))
        return [
            Notice(kind=Kind.AUTOREPLY, recipient=recipient, verp=verp, message_id=replied_to)
        ], "autoreply"
    if is_delay_warning(message, own_words_of(text)):
        return [Notice(kind=Kind.DELAY, verp=verp, message_id=message_id)], "delay"
    return [], "unknown"


def _walk(message: Message) -> _Parts:
    """The report parts, the returned original and the text parts of `message`, in one walk
    that does not go into returned messages (their parts are not the report's)."""
    parts = _Parts()
    pending = [message]
    seen = 0
    while pending:
        part = pending.pop()
        seen += 1
        if seen > MAX_PARTS:
            parts.too_many = True
            break
        parts.defects.extend(part.defects)
        kind = part.get_content_type()
        if part.is_multipart() and not kind.startswith("message/"):
            payload = part.get_payload()
            if isinstance(payload, list):
                pending.extend(p for p in reversed(payload) if isinstance(p, Message))
        elif kind in ("message/delivery-status", "message/global-delivery-status"):
            parts.statuses.append(part)
        elif kind == "message/feedback-report":
            parts.feedback = parts.feedback or part
        elif kind.startswith("text/") and kind != "text/rfc822-headers":
            parts.texts.append(part)
        elif parts.returned is None:
            parts.returned = returned_headers(part, kind)
    return parts


def _returned_id(message: Message, parts: _Parts, text: str | None = None) -> str:
    """Our Message-ID as the report returns it: the returned part's, else one quoted in text."""
    if parts.returned is not None:
        found = returned_message_id(parts.returned)
        if found:
            return found
    return quoted_message_id(body_text(parts.texts) if text is None else text)


def _looks_like_report(message: Message) -> bool:
    """Whether a message says it is a delivery report, even one cut short or unreadable."""
    return message.get_content_type() == "multipart/report" or from_mail_system(message)


def _is_report(message: Message, report_type: str) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == report_type
    )
