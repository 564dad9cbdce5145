"""The fast report parser (inbound/mime.py) builds the tree email.message_from_bytes builds."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.inbound.mime import parse_message, report_tree

BOUNCES = Path(__file__).resolve().parent / "fixtures" / "bounces"
FIXTURES = sorted(BOUNCES.glob("*.eml"))


def tree(message: Message) -> dict[str, Any]:
    """Everything the parser sets on a message, nested parts included, comparable with ==."""
    payload = message._payload  # The parser's own result, as it is.
    return {
        "headers": list(message._headers),
        "unixfrom": message.get_unixfrom(),
        "payload": [tree(part) for part in payload] if isinstance(payload, list) else payload,
        "preamble": message.preamble,
        "epilogue": message.epilogue,
        "defects": [type(defect).__name__ for defect in message.defects],
        "default_type": message.get_default_type(),
        "charset": message.get_charset(),
    }


def same_as_the_feed_parser(raw: bytes) -> bool:
    """Whether the fast path read `raw` (True) or left it to the parser (False); either way
    the tree must be the parser's."""
    fast = report_tree(raw)
    expected = tree(message_from_bytes(raw))
    assert tree(parse_message(raw)) == expected
    if fast is None:
        return False
    assert tree(fast) == expected
    return True


def postfix_dsn(number: int, *, newline: str = "\r\n") -> bytes:
    """A Postfix DSN with its returned headers, as bench/inbound.py writes them."""
    lines = [
        "Return-Path: <>",
        "Delivered-To: bounces+1-abc@bounces.news.example.org",
        "From: MAILER-DAEMON@relay.example.net (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="B{number}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--B{number}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "<reader@example.org>: host mx.example.com said: 550 5.1.1 User unknown",
        "",
        f"--B{number}",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; relay.example.net",
        "",
        "Final-Recipient: rfc822; reader@example.org",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 <reader@example.org>:",
        "    Recipient address rejected",
        "",
        f"--B{number}",
        "Content-Type: message/rfc822",
        "",
        "From: AI Weekly <weekly@news.example.org>",
        "Message-ID: <uid.1@news.example.org>",
        'Content-Type: multipart/alternative; boundary="inner"',
        "",
        "--inner",
        "Content-Type: text/plain",
        "",
        "Hello",
        "--inner--",
        "",
        f"--B{number}--",
        "",
    ]
    return newline.join(lines).replace("\n\t", newline + "\t").encode()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_every_fixture_parses_as_the_feed_parser_parses_it(path: Path) -> None:
    same_as_the_feed_parser(path.read_bytes())


def test_the_common_reports_take_the_fast_path() -> None:
    fast = [path.name for path in FIXTURES if same_as_the_feed_parser(path.read_bytes())]
    assert len(fast) >= len(FIXTURES) // 2, fast
    assert same_as_the_feed_parser(postfix_dsn(1))
    assert same_as_the_feed_parser(postfix_dsn(2, newline="\n"))


def test_unusual_shapes_are_left_to_the_feed_parser() -> None:
    dsn = postfix_dsn(3)
    for unusual in (
        dsn.replace(b"\r\n", b"\r"),  # Lone CRs end lines for the parser.
        b"From someone Mon Nov 30\r\n" + dsn,  # An mbox envelope line.
        dsn.replace(b"--B3--", b"--B3-x"),  # No close boundary: a defect.
        dsn.replace(b'boundary="B3"', b"boundary="),  # No boundary.
        b"X-Broken\r\n" + dsn,  # A body without its header separator.
        dsn.replace(b"multipart/report", b"multipart/digest"),
    ):
        assert not same_as_the_feed_parser(unusual)


_LINES = st.sampled_from(
    ["", " ", "\t x", "--B5", "--B5--", "--B5  ", "--inner", "--inner--", "X: y", ":x", "From x",
     "Content-Type: message/rfc822", "Content-Type: multipart/mixed; boundary=B5",
     "Content-Type: text/plain", "Content-Transfer-Encoding: base64", "junk", "\r", "\x0c"]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [postfix_dsn(5), postfix_dsn(5, newline="\n"), *map(Path.read_bytes, FIXTURES)]
    ),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), _LINES), min_size=1, max_size=5),
)
def test_mutated_messages_parse_as_the_feed_parser_parses_them(
    seed: bytes, edits: list[tuple[float, int, str]]
) -> None:
    lines = seed.decode("ascii", "surrogateescape").splitlines(keepends=True)
    for where, remove, line in edits:
        at = int(where * len(lines))
        lines[at : at + remove] = [line + ("\r\n" if where > 0.5 else "\n")]
    same_as_the_feed_parser("".join(lines).encode("ascii", "surrogateescape"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FIXTURES),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 40), st.binary(max_size=40)), max_size=4),
)
def test_byte_mutations_parse_as_the_feed_parser_parses_them(
    seed: Path, edits: list[tuple[float, int, bytes]]
) -> None:
    raw = bytearray(seed.read_bytes())
    for where, length, replacement in edits:
        at = int(where * len(raw))
        raw[at : at + length] = replacement
    same_as_the_feed_parser(bytes(raw))
