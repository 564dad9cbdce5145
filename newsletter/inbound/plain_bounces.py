"""Bounces that are no RFC 3464 report: Exim, qmail, old Yahoo and AOL, Domino, Barracuda...

flufl.bounce (GNU Mailman's detectors, measured on years of real bounces) finds the failed
recipients in these formats. It cannot tell hard from soft, so the words next to each
recipient are read here: the SMTP reply, the enhanced status code, the MTA's own phrase,
and status_codes.judge decides. Exim and Sendmail delay warnings are delays, never failures.
"""

from __future__ import annotations

import logging
import re
from email import message_from_bytes
from email.message import Message

from flufl.bounce import all_failures

from newsletter.characters import one_line
from newsletter.inbound.message_text import MAX_VALUE_CHARACTERS, header_text
from newsletter.inbound.notices import Kind, Notice
from newsletter.inbound.status_codes import STATUS, judge, status_in

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
DETECTOR_BYTES = 64 * 1024
"""flufl.bounce reads this much of a message at most: returned attachments can be megabytes."""
# The lines after a recipient that hold its reason (Exim indents four, qmail writes three).
_WINDOW_LINES = 8
_DELAY_SUBJECT = re.compile(
    r"^\s*(?:warning:\s*message\s.*\bdelayed|delayed mail|delivery delayed|delivery status notification \(delay\)"
    r"|warning: could not send message for past|mail delivery delayed|message delayed)",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"has not yet been delivered|will (?:continue to )?(?:be )?retr(?:y|ied)|delivery attempts will continue"
    r"|no action is required on your part|still (?:being )?(?:trying|retried)|will keep trying",
    re.IGNORECASE,
)
# Where a bounce's own words end and the returned original begins.
_ORIGINAL_STARTS = re.compile(
    r"^[ \t-]*(?:this is a copy of the message|original message|--- ?below this line|"
    r"----- ?(?:original|returned|transcript)|content-type: message/rfc822)",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESS_REPLY = re.compile(
    r"^[ \t]*<?([^\s<>@:,;\"']{1,64}@[A-Za-z0-9.-]{1,253})>?:?[ \t]+(?:[^\n]{0,200}?\s)?[45]\d\d[ -]",
    re.MULTILINE,
)
_MAIL_SYSTEM = re.compile(r"mailer-daemon|postmaster|mail delivery|mail system", re.IGNORECASE)
_REPLY = re.compile(r"(?<![\d.])[45]\d\d(?=[ \-])")


def plain_bounce_notices(
    message: Message, text: str, *, raw: bytes, verp: str, message_id: str
) -> list[Notice]:
    """The notices of a non-RFC 3464 bounce, one per failed or delayed recipient flufl.bounce
    finds (or, in a mail system's message, each `address: 5xx reply` line names); [] when
    there is none."""
    temporary, permanent = _failures(message, raw)
    own_words = own_words_of(text)
    delayed = is_delay_warning(message, own_words)
    addresses = sorted(_decoded(temporary | permanent))[:MAX_RECIPIENTS]
    if not addresses and (from_mail_system(message) or _null_sender(message)):
        # Formats flufl.bounce does not know (OpenSMTPD's `rcpt@domain: 550 5.1.1 ...`): a
        # line that starts with an address and gives an SMTP reply is a recipient's failure.
        addresses = sorted({found[1] for found in _ADDRESS_REPLY.finditer(own_words)})[
            :MAX_RECIPIENTS
        ]
    notices = []
    for address in addresses:
        diagnostic = _diagnostic_near(own_words, address, alone=len(addresses) == 1)
        if delayed or address in _decoded(temporary):
            kind, status = Kind.DELAY, status_in(diagnostic)
        else:
            kind, status = judge("", diagnostic)
        notices.append(
            Notice(
                kind=kind,
                recipient=address,
                status=status,
                diagnostic=diagnostic,
                verp=verp,
                message_id=message_id,
            )
        )
    return notices


def _failures(message: Message, raw: bytes) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """flufl.bounce's temporary and permanent failures in `message` (parsed from `raw`)."""
    if message.get("From") is None:
        return frozenset(), frozenset()  # Some detectors fail on a message without From.
    if len(raw) > DETECTOR_BYTES:
        # The detectors read every line of every part; a bounce's own words come first.
        message = message_from_bytes(raw[:DETECTOR_BYTES])
    try:
        return all_failures(message)
    except Exception as error:  # The detectors assume well-formed input; none is promised.
        log.warning("flufl.bounce failed on a message: %r", error)
        return frozenset(), frozenset()


def from_mail_system(message: Message) -> bool:
    """Whether a message says it comes from a mail system (MAILER-DAEMON, postmaster...)."""
    return bool(_MAIL_SYSTEM.search(str(message.get("From", ""))))


def own_words_of(text: str) -> str:
    """A bounce's text up to where the returned original starts."""
    found = _ORIGINAL_STARTS.search(text)
    return text[: found.start()] if found else text


def is_delay_warning(message: Message, text: str) -> bool:
    """Whether a non-report message is an MTA's warning that delivery is still being tried."""
    subject = header_text(message, "Subject")
    return bool(_DELAY_SUBJECT.match(subject)) or (
        "delay" in subject.lower() and _DELAY_TEXT.search(text) is not None
    )


def _diagnostic_near(text: str, address: str, *, alone: bool) -> str:
    """The reason a bounce gives for `address`: from the SMTP reply (or status code) in the
    lines from the address on, "" when none is there. The only recipient of a bounce may
    have its reason anywhere in the bounce's own words."""
    lower = text.lower()
    at = lower.find(address.lower())
    windows = []
    if at >= 0:
        start = lower.rfind("\n", 0, at) + 1
        lines = text[start:].split("\n", _WINDOW_LINES)[:_WINDOW_LINES]
        # The paragraph of the address: up to the first blank line after it.
        paragraph: list[str] = []
        for line in lines:
            if not line.strip() and paragraph:
                break
            paragraph.append(line.strip())
        windows.append(" ".join(paragraph))
    if alone:
        windows.append(" ".join(text[:4000].split()))
    for window in windows:
        found = _REPLY.search(window)
        if found:
            return one_line(window[found.start() :])[:MAX_VALUE_CHARACTERS]
    for window in windows:
        if STATUS.search(window):
            # No SMTP reply, but a status code: the words around it are the reason (qmail's
            # `The users mailfolder is over the allowed quota (size). (#5.2.2)`).
            return _without_address(window, address)
    return _without_address(windows[0], address) if windows else ""


def _without_address(window: str, address: str) -> str:
    """A reason paragraph without the recipient's own address line at its start."""
    at = window.lower().find(address.lower())
    rest = window[at + len(address) :] if 0 <= at < 40 else window
    return one_line(rest.lstrip(">: ").strip())[:MAX_VALUE_CHARACTERS]


def _null_sender(message: Message) -> bool:
    return str(message.get("Return-Path", "")).strip() == "<>"


def _decoded(addresses: frozenset[bytes]) -> set[str]:
    """flufl.bounce's byte addresses as text, only those that look like addresses."""
    found = set()
    for address in addresses:
        value = address.decode("ascii", "replace").strip("<>. \t")
        if "@" in value and len(value) <= 254 and not any(c in value for c in "{}\"' "):
            found.add(value)
    return found
