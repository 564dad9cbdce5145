"""RFC 3464 delivery status notifications: one notice per recipient block.

Postfix, Sendmail, Exchange and Office 365, Gmail, Courier, recent Exim and OpenSMTPD all send
these: a `message/delivery-status` part with one block for the message, then one block per
recipient (Final-Recipient, Original-Recipient, Action, Status, Diagnostic-Code). The kind
comes from the status and diagnostic (status_codes.judge), never from the class digit alone.
"""

from __future__ import annotations

from email.message import Message

from newsletter.inbound.message_text import address_in, header_text, headers_of, part_text
from newsletter.inbound.notices import Notice
from newsletter.inbound.status_codes import judge

# A report names a few recipients; a part that claims thousands is hostile, not a report.
MAX_RECIPIENT_BLOCKS = 100


def dsn_notices(report: Message, *, verp: str, message_id: str) -> list[Notice]:
    """The notices of a `message/delivery-status` part, one per recipient block: failures,
    delays, and DELIVERED for delivered, relayed and expanded recipients (which change
    nothing)."""
    notices: list[Notice] = []
    for block in recipient_blocks(report):
        recipient = address_in(_field(block, "Original-Recipient")) or address_in(
            _field(block, "Final-Recipient")
        )
        diagnostic = _field(block, "Diagnostic-Code")
        kind, status = judge(
            _field(block, "Status"), diagnostic, action=_field(block, "Action") or "failed"
        )
        notices.append(
            Notice(
                kind=kind,
                recipient=recipient,
                status=status,
                diagnostic=diagnostic,
                verp=verp,
                message_id=message_id,
            )
        )
    return notices


def recipient_blocks(report: Message) -> list[Message]:
    """The per-recipient blocks of a delivery-status part (those naming a recipient)."""
    payload = report.get_payload()
    if isinstance(payload, list):
        # The parser split the part into blocks of fields already (the usual case).
        blocks = [block for block in payload if isinstance(block, Message)]
        # message/global-delivery-status (RFC 6533) is read as one message: its first block
        # as headers, the recipient blocks as its body.
        if len(blocks) == 1 and isinstance(blocks[0].get_payload(), str):
            blocks += _blocks_in(part_text(blocks[0]))
    else:
        # Some MTAs encode the part (base64, quoted-printable): decode, then split by hand.
        blocks = _blocks_in(part_text(report))
    named = [
        block
        for block in blocks
        if block.get("Final-Recipient") is not None or block.get("Original-Recipient") is not None
    ]
    return named[:MAX_RECIPIENT_BLOCKS]


def _blocks_in(text: str) -> list[Message]:
    """The blocks of fields in a delivery-status text, split at blank lines."""
    chunks = text.replace("\r\n", "\n").split("\n\n", MAX_RECIPIENT_BLOCKS)
    return [headers_of(chunk) for chunk in chunks[:MAX_RECIPIENT_BLOCKS] if chunk.strip()]


def _field(block: Message, name: str) -> str:
    return header_text(block, name)
