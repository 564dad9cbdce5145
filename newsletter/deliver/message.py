"""One-off messages the newsletter writes itself (a confirmation, a notice to the editor):
multipart/alternative (text and HTML) with the headers inboxes expect, and their sending."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from newsletter.characters import one_line
from newsletter.deliver.address_headers import address_header

if TYPE_CHECKING:
    from newsletter.config import Config
    from newsletter.deliver.smtp import Outcome
    from newsletter.deliver.transports import Transport


def send_notice(
    config: Config,
    open_transport: Callable[[], Transport],
    *,
    to: str,
    subject: str,
    text: str,
    now: datetime,
    html: str = "",
    reply_to: str = "",
    to_name: str = "",
) -> Outcome:
    """Send one message from the sender address, marked auto-generated, through a transport
    opened for it and closed after; what became of it. It is multipart/alternative with `html`
    (else plain text); non-ASCII headers are RFC 2047 encoded on output, and From and To name
    the sender and `to_name` as written (address_headers)."""
    message = EmailMessage(policy=SMTP)
    domain = one_line(config.sender_address).rpartition("@")[2]
    if reply_to:
        message["Reply-To"] = one_line(reply_to)
    message["Subject"] = one_line(subject)  # Never a line break (characters.one_line).
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8")
    if html:
        message.add_alternative(html, subtype="html", charset="utf-8")
    # Written as they are, not set on `message`: the email package would refold them and
    # decode a name that looks like an encoded word (address_headers).
    addresses = (
        f"From: {address_header(config.sender, config.sender_address, 'From')}\r\n"
        f"To: {address_header(to_name, to)}\r\n"
    ).encode()
    transport = open_transport()
    try:
        return transport.send(config.sender_address, to, addresses + bytes(message))
    finally:
        transport.close()
