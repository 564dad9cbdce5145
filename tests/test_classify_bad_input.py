"""read_message on bad input: empty, oversized, binary, truncated, wrongly encoded,
hostile; a Reading with its `problem`, or at least no exception, whatever the bytes."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.inbound.classify import MAX_MESSAGE_BYTES, read_message
from newsletter.inbound.dsn import MAX_RECIPIENT_BLOCKS as MAX_RECIPIENTS
from newsletter.inbound.notices import digest_of

from .test_classify import BOUNCES, HARD, only_notice

# Bad input: a Reading with `problem` set, or at least no exception, whatever comes.


def test_empty_message() -> None:
    assert read_message(b"").problem == "empty message"
    assert read_message(b" \r\n\r\n").problem == "empty message"


def test_a_message_larger_than_the_limit_is_not_read() -> None:
    raw = b"From: a@example.com\nSubject: big\n\n" + b"x" * (25 * 1024 * 1024)
    reading = read_message(raw)
    assert reading.problem == "larger than 10 MB"
    assert reading.notices == ()
    assert reading.digest == digest_of(raw)
    assert len(raw) > MAX_MESSAGE_BYTES


def test_thousands_of_parts_or_header_fields_are_not_read() -> None:
    # No report has them, and the parser and header lookups would take seconds over them.
    parts = b"--a\nContent-Type: text/plain\n\nx\n" * 5000
    raw = b"From: a@b\nContent-Type: multipart/mixed; boundary=a\n\n" + parts + b"--a--\n"
    assert read_message(raw).problem == "more than 1000 MIME parts"
    raw = b"".join(b"X-Field-%d: v\n" % i for i in range(1500)) + b"\nbody\n"
    assert read_message(raw).problem == "more than 1000 header fields"


def test_a_report_names_a_bounded_number_of_recipients_whatever_its_parts() -> None:
    # Each delivery-status part is cut at 100 blocks; hundreds of such parts in one message
    # made tens of thousands of notices (seconds of CPU, megabytes held per message).
    blocks = b"".join(
        b"Final-Recipient: rfc822;u%d@x.test\nStatus: 5.1.1\n\n" % i for i in range(100)
    )
    part = b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;x\n\n" + blocks
    raw = (
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\n"
        b"To: bounces+1-aaaaaaaaaaaaaaaa@b.test\n\n" + part * 50 + b"--B--\n"
    )
    notices = read_message(raw).notices
    assert 0 < len(notices) <= MAX_RECIPIENTS


def test_a_bounce_with_a_large_returned_attachment_is_read() -> None:
    raw = (BOUNCES / "exim-550-user-unknown.eml").read_bytes() + b"A" * (8 * 1024 * 1024)
    (notice,) = read_message(raw).notices
    assert (notice.kind, notice.recipient) == (HARD, "erin@example.org")


def test_binary_junk() -> None:
    junk = bytes(random.Random(14).randrange(256) for _ in range(5000))
    reading = read_message(junk)
    assert reading.problem and reading.notices == ()


def test_text_that_is_no_email() -> None:
    reading = read_message(b"this is not an email message at all\nnot even close\n")
    assert reading.problem == "not an email message: no header"


def test_a_truncated_report_that_says_nothing_is_a_problem() -> None:
    raw = (BOUNCES / "postfix-550-user-unknown.eml").read_bytes()
    cut = raw[: raw.index(b"This is the mail system")]
    reading = read_message(cut)
    assert reading.notices == ()
    assert reading.problem.startswith("truncated or malformed MIME")


def test_a_report_cut_inside_the_returned_message_still_reports_the_bounce() -> None:
    raw = (BOUNCES / "sendmail-550-user-unknown.eml").read_bytes()
    cut = raw[: raw.index(b"Hello Judy")]
    reading = read_message(cut)
    assert [(n.kind, n.recipient) for n in reading.notices] == [(HARD, "judy@example.com")]
    assert "CloseBoundaryNotFoundDefect" in reading.details["defects"]


def test_a_plain_text_bounce_without_mime_is_read() -> None:
    # qmail and Exim bounces are not MIME at all: that is a format, not a problem.
    raw = (BOUNCES / "qmail-hard.eml").read_bytes()
    assert b"MIME-Version" not in raw
    assert only_notice("qmail-hard.eml").kind is HARD


def test_wrong_and_unknown_charsets() -> None:
    raw = (
        b"From: MAILER-DAEMON@example.org\nTo: bounces+9.x@bounces.news.example.org\n"
        b"Subject: =?x-no-such-charset?q?Undeliverable=FF?= \xff\xfe mail\n"
        b"X-Failed-Recipients: amy@example.org\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\n"
        b"Content-Transfer-Encoding: base64\n\n"
        b"!!!not base64 at all\xff\xfe\n"
    )
    reading = read_message(raw)
    assert reading.problem == ""
    assert [n.recipient for n in reading.notices] == ["amy@example.org"]
    assert "\ufffd" not in reading.details["from"]


def test_a_header_cannot_smuggle_a_line_break() -> None:
    raw = (
        b"From: x@example.org\nTo: unsubscribe@news.example.org\n"
        b"Subject: =?utf-8?q?unsubscribe_1.0123456789abcdef.abc.0123456789abcdef0123=0D=0ABcc:_a@b?=\n\n"
    )
    reading = read_message(raw)
    assert "\n" not in reading.details["subject"] and "\r" not in reading.details["subject"]


# read_message never raises, whatever the bytes.

SEEDS = sorted((BOUNCES).glob("*.eml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    reading = read_message(raw)
    assert reading.digest == digest_of(raw)
    assert bool(reading.problem) != bool(reading.notices)  # Either read, or why not.


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 40), st.binary(max_size=40)),
        min_size=1,
        max_size=6,
    ),
)
def test_never_raises_on_mutated_fixtures(
    seed: Path, edits: list[tuple[float, int, bytes]]
) -> None:
    raw = bytearray(seed.read_bytes())
    for where, length, replacement in edits:
        at = int(where * len(raw))
        raw[at : at + length] = replacement  # Cut, overwrite or insert at a random place.
    reading = read_message(bytes(raw))
    assert bool(reading.problem) != bool(reading.notices)  # Either read, or why not.
    for notice in reading.notices:
        assert "\n" not in notice.diagnostic and "\n" not in notice.recipient
