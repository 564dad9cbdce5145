"""Messages for the processor's tests, and a reader of them that needs no bounce parser.

The reader stands in for inbound/classify.py where a test is about the processor and the
mailboxes, not about parsing: it reads what each message says in X-Test-* headers (the kind,
the recipient, the return path) into a Reading, as the real parser would.
"""

from __future__ import annotations

from email import message_from_bytes, policy

from newsletter.inbound.notices import Kind, Notice, Reading, digest_of


def bounce_message(
    number: int, kind: str = "hard", *, verp: str = "", recipient: str = "", status: str = ""
) -> bytes:
    """A bounce-like message: what it says about whom in X-Test-* headers."""
    headers = [
        "From: MAILER-DAEMON@mx.example.net",
        f"To: {verp or 'bounces@bounces.news.example.org'}",
        f"Subject: Undelivered Mail Returned to Sender ({number})",
        f"Message-ID: <{number}.bounce@mx.example.net>",
        f"X-Test-Kind: {kind}",
        f"X-Test-Verp: {verp}",
        f"X-Test-Recipient: {recipient}",
        f"X-Test-Status: {status}",
    ]
    return ("\r\n".join(headers) + f"\r\n\r\nThis is bounce number {number}.\r\n").encode()


def read_test_message(raw: bytes, source: str) -> Reading:
    """The Reading a message of `bounce_message` stands for; one without X-Test-Kind is
    unreadable, and `X-Test-Kind: poison` makes the reader fail."""
    message = message_from_bytes(raw, policy=policy.compat32)
    kind = str(message.get("X-Test-Kind", "")).strip()
    if kind == "poison":
        raise ValueError("a reader that fails on this message")
    if kind not in {k.value for k in Kind}:
        return Reading(digest_of(raw), problem="not a bounce this reader knows", source=source)
    notice = Notice(
        Kind(kind),
        recipient=str(message.get("X-Test-Recipient", "")).strip(),
        status=str(message.get("X-Test-Status", "")).strip(),
        verp=str(message.get("X-Test-Verp", "")).strip(),
    )
    return Reading(digest_of(raw), (notice,), source=source)
