"""Build MIME messages: multipart/alternative (text and HTML) with the headers inboxes expect."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid


def build_message(
    *,
    sender_name: str,
    sender_address: str,
    to: str,
    subject: str,
    text: str,
    now: datetime,
    html: str = "",
    reply_to: str = "",
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text only without `html`); non-ASCII headers are
    RFC 2047 encoded on output."""
    message = EmailMessage(policy=SMTP)
    local, _, domain = sender_address.rpartition("@")
    message["From"] = Address(display_name=sender_name, username=local, domain=domain)
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, subtype="plain", charset="utf-8")
    if html:
        message.add_alternative(html, subtype="html", charset="utf-8")
    return message
