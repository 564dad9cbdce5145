"""read_message on real-world bounce formats, complaints, auto-replies and mailto unsubscribes.

Each fixture in tests/fixtures/bounces/ is written from the MTA's or provider's documented
format; the table says what an operator must see for it: the kind, the recipient, the status,
and the references that tie it to our delivery (VERP address, returned Message-ID).
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.inbound.classify import MAX_MESSAGE_BYTES, read_message
from newsletter.inbound.notices import Kind, Notice, digest_of
from newsletter.inbound.ses import ses_notices
from newsletter.inbound.status_codes import judge

BOUNCES = Path(__file__).resolve().parent / "fixtures" / "bounces"
OUR_DOMAIN = "@news.example.org>"


def verp(delivery: int, signature: str) -> str:
    return f"bounces+{delivery}.{signature}@bounces.news.example.org"


def our_id(delivery: int, tail: str) -> str:
    return f"<20261201090001.{delivery}.{tail}{OUR_DOMAIN}"


HARD, SOFT, POLICY, DELAY = Kind.HARD, Kind.SOFT, Kind.POLICY, Kind.DELAY
COMPLAINT, AUTOREPLY, UNSUBSCRIBE = Kind.COMPLAINT, Kind.AUTOREPLY, Kind.UNSUBSCRIBE
UNKNOWN, DELIVERED = Kind.UNKNOWN, Kind.DELIVERED

# file -> kind, recipient, status, VERP address ("" = none expected), returned Message-ID.
FORMATS: dict[str, tuple[Kind, str, str, str, str]] = {
    # Postfix (RFC 3464)
    "postfix-550-user-unknown.eml": (
        HARD, "alice@example.com", "5.1.1", verp(1001, "Hq3vXk9Z"), our_id(1001, "7a3f")),
    "postfix-552-5.2.2-mailbox-full.eml": (
        SOFT, "bob@example.net", "5.2.2", verp(1002, "pL0dRt2M"), our_id(1002, "9c1e")),
    "postfix-gave-up-4.4.1.eml": (
        SOFT, "carol@slow.example", "4.4.1", verp(1003, "Wm8sQa4J"), our_id(1003, "55aa")),
    "postfix-delayed.eml": (
        DELAY, "dan@grey.example", "4.2.0", verp(1004, "Bv5nYc1E"), our_id(1004, "0b0b")),
    "postfix-552-5.3.4-too-big.eml": (
        SOFT, "nils@small.example", "5.3.4", verp(1038, "Wx5yZa6B"), our_id(1038, "a6a6")),
    "postfix-5.0.0-no-such-user.eml": (
        HARD, "olga@oldhost.example", "5.0.0", verp(1039, "Cd6eFg7H"), our_id(1039, "b7b7")),
    "postfix-relayed.eml": (
        DELIVERED, "max@example.org", "2.0.0", verp(1037, "Qr4sTu5V"), ""),
    "forwarded-original-recipient.eml": (
        HARD, "lena.old@alumni.example.org", "5.1.1", verp(1036, "Kl3mNo4P"), our_id(1036, "f5f5")),
    # Exim (its own text format, X-Failed-Recipients)
    "exim-550-user-unknown.eml": (
        HARD, "erin@example.org", "5.1.1", verp(1005, "Tg7uJm3K"), our_id(1005, "c0de")),
    "exim-mailbox-full.eml": (
        SOFT, "frank@example.org", "5.2.2", verp(1006, "Yh2kLp8W"), our_id(1006, "f00d")),
    "exim-unrouteable-address.eml": (
        HARD, "gina@no-such-domain.example", "", verp(1007, "Ka4bNm6Q"), our_id(1007, "beef")),
    "exim-delayed.eml": (DELAY, "hugo@busy.example", "4.7.1", verp(1008, "Qe9rTy5U"), ""),
    "exim-retry-timeout-exceeded.eml": (
        SOFT, "pia@down.example", "", verp(1041, "Mn8oPq9R"), our_id(1041, "d9d9")),
    "exim-5.7.1-spam-rejected.eml": (
        POLICY, "ivan@strict.example", "5.7.1", verp(1009, "Ux1cVb7N"), our_id(1009, "abba")),
    # Sendmail
    "sendmail-550-user-unknown.eml": (
        HARD, "judy@example.com", "5.1.1", verp(1010, "Rt6yUi2O"), our_id(1010, "d00d")),
    "sendmail-delayed.eml": (
        DELAY, "ken@down.example", "4.4.1", verp(1011, "Op3aSd9F"), our_id(1011, "e1e1")),
    # qmail (QSBMF) and Yahoo's qmail-style bounces
    "qmail-hard.eml": (
        HARD, "leo@example.com", "5.1.1", verp(1012, "Gh5jKl1Z"), our_id(1012, "f1f1")),
    "qmail-over-quota.eml": (
        SOFT, "mia@qmail.example", "5.2.2", verp(1013, "Xc7vBn2M"), our_id(1013, "a2a2")),
    "yahoo-554-no-account.eml": (
        HARD, "nora@yahoo.com", "", verp(1014, "Lk8jHg3F"), our_id(1014, "b3b3")),
    # Office 365 and Exchange
    "o365-550-5.1.10.eml": (
        HARD, "oscar@contoso.com", "5.1.10", verp(1015, "Mn4bVc8X"), our_id(1015, "c4c4")),
    "o365-550-5.4.1-access-denied.eml": (
        HARD, "pat@fabrikam.com", "5.4.1", verp(1016, "Zq2wEr6T"), our_id(1016, "d5d5")),
    "exchange-2016-550-5.1.1.eml": (
        HARD, "quinn@corp.example", "5.1.1", verp(1017, "Ab1cDe2F"), our_id(1017, "e6e6")),
    "exchange-554-5.2.2-quota.eml": (
        SOFT, "rosa@corp.example", "5.2.2", verp(1018, "Gh3iJk4L"), our_id(1018, "f7f7")),
    # Gmail
    "gmail-550-5.1.1.eml": (
        HARD, "sam.nobody@gmail.com", "5.1.1", verp(1019, "Mn5oPq6R"), our_id(1019, "a8a8")),
    "gmail-5.7.26-dmarc.eml": (
        POLICY, "tina@gmail.com", "5.7.26", verp(1020, "St7uVw8X"), our_id(1020, "b9b9")),
    "gmail-delayed.eml": (
        DELAY, "uma@slowhost.example", "4.4.1", verp(1021, "Yz9aBc0D"), our_id(1021, "c0c0")),
    # Domino, Courier, OpenSMTPD, Barracuda
    "domino-not-listed.eml": (
        HARD, "dora@acme.example", "5.0.0", verp(1029, "Uv5wXy6Z"), our_id(1029, "e8e8")),
    "courier-5.0.0-inner-5.1.1.eml": (
        HARD, "ella@example.com", "5.1.1", verp(1030, "Ab2cDe3F"), our_id(1030, "f9f9")),
    "opensmtpd.eml": (
        HARD, "finn@example.org", "5.1.1", verp(1031, "Gh4iJk5L"), our_id(1031, "a0a0")),
    "barracuda-blocked.eml": (
        POLICY, "gus@barracuda-customer.example", "5.0.0", verp(1032, "Mn6oPq7R"),
        our_id(1032, "b1b1")),
    # Complaints: ARF (Yahoo, AOL, others), Microsoft JMRP, Amazon SES
    "yahoo-arf.eml": (
        COMPLAINT, "vera@yahoo.com", "", verp(1022, "Ef1gHi2J"), our_id(1022, "d1d1")),
    "aol-arf.eml": (COMPLAINT, "", "", verp(1023, "Kl3mNo4P"), our_id(1023, "e2e2")),
    "microsoft-jmrp.eml": (
        COMPLAINT, "wendy@hotmail.com", "", verp(1024, "Qr5sTu6V"), our_id(1024, "f3f3")),
    "arf-without-original-headers.eml": (COMPLAINT, "xavier@mailprovider.example", "", "", ""),
    "arf-removal-recipient-headers-only.eml": (
        COMPLAINT, "yara@isp.example", "", verp(1025, "Wx7yZa8B"), our_id(1025, "a4a4")),
    "arf-not-spam.eml": (UNKNOWN, "zoe@mailprovider.example", "", "", ""),
    "ses-bounce-mail.json.eml": (
        HARD, "adam@example.com", "5.1.1", verp(1026, "Cd9eFg0H"), our_id(1026, "b5b5")),
    "ses-complaint-mail.json.eml": (
        COMPLAINT, "beth@example.com", "", verp(1027, "Ij1kLm2N"), our_id(1027, "c6c6")),
    "ses-transient-mailbox-full.json.eml": (
        SOFT, "carl@example.com", "5.2.2", verp(1028, "Op3qRs4T"), our_id(1028, "d7d7")),
    # Auto-replies: never bounces
    "vacation-rfc3834.eml": (
        AUTOREPLY, "jonas@example.se", "", verp(1033, "St8uVw9X"), our_id(1033, "c2c2")),
    "exchange-ooo.eml": (
        AUTOREPLY, "karin.lund@corp.example", "", verp(1034, "Yz0aBc1D"), our_id(1034, "d3d3")),
    "ooo-abwesenheitsnotiz.eml": (
        AUTOREPLY, "juergen@example.de", "", verp(1035, "Ef2gHi3J"), our_id(1035, "e4e4")),
    # Mail to the List-Unsubscribe mailto address
    "mailto-unsubscribe.eml": (
        UNSUBSCRIBE, "reader@example.com", "", "unsubscribe@news.example.org", ""),
    "mailto-unsubscribe-reply-token-in-body.eml": (
        UNSUBSCRIBE, "hana@example.com", "", "unsubscribe@news.example.org", ""),
    "mailto-unsubscribe-without-token.eml": (
        UNKNOWN, "ian@example.com", "", "unsubscribe@news.example.org", ""),
    # Nothing we can act on: kept for a human
    "human-reply.eml": (
        UNKNOWN, "", "", verp(1040, "Ij7kLm8N"), our_id(1040, "c8c8")),
}  # fmt: skip

POSTFIX = (BOUNCES / "postfix-550-user-unknown.eml").read_text()
STATUS_PART = "Content-Type: message/delivery-status\n\n"

TOKENS = {
    "mailto-unsubscribe.eml": "1042.d108b279434fe1d5.axEGpg.gRVC1hx3xV1G2xgPXwzM4p5ULO0",
    "mailto-unsubscribe-reply-token-in-body.eml": "7.ca70ecf5ca38f2c6.axEGpg.obWyLfg9E6G03o6eFXgaXsA2Vxc",
}


def only_notice(name: str) -> Notice:
    raw = (BOUNCES / name).read_bytes()
    reading = read_message(raw, source="maildir:/tmp/test")
    assert reading.problem == ""
    assert reading.digest == digest_of(raw)
    assert reading.source == "maildir:/tmp/test"
    assert len(reading.notices) == 1, reading.notices
    return reading.notices[0]


def test_every_fixture_is_in_the_table() -> None:
    assert sorted(path.name for path in BOUNCES.glob("*.eml")) == sorted(FORMATS)
    assert len(FORMATS) >= 30


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format(name: str) -> None:
    kind, recipient, status, verp_address, message_id = FORMATS[name]
    notice = only_notice(name)
    assert (notice.kind, notice.recipient, notice.status) == (kind, recipient, status)
    assert notice.verp == verp_address
    assert notice.message_id == message_id
    assert notice.unsubscribe_token == TOKENS.get(name, "")
    # Whatever a report says, it stays on one line (it is stored and shown).
    for value in (notice.diagnostic, notice.recipient, notice.verp, notice.message_id):
        assert "\n" not in value and "\r" not in value


def test_the_diagnostic_is_the_remote_servers_words() -> None:
    assert only_notice("postfix-550-user-unknown.eml").diagnostic == (
        "smtp; 550 5.1.1 <alice@example.com>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert only_notice("exim-550-user-unknown.eml").diagnostic == (
        "550 5.1.1 <erin@example.org>: Recipient address rejected: "
        "User unknown in local recipient table"
    )
    assert only_notice("qmail-over-quota.eml").diagnostic == (
        "The users mailfolder is over the allowed quota (size). (#5.2.2)"
    )


def test_a_report_for_several_recipients_gives_one_notice_each() -> None:
    raw = (BOUNCES / "postfix-550-user-unknown.eml").read_bytes()
    second = (
        b"Final-Recipient: rfc822; zed@example.com\nAction: failed\nStatus: 5.2.2\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 Over quota\n\n"
    )
    raw = raw.replace(b"--4Q9xYz1AbC.1764579605/news.example.org\nContent-Description: Undelivered",
                      second + b"--4Q9xYz1AbC.1764579605/news.example.org\nContent-Description: Undelivered")  # fmt: skip
    notices = read_message(raw).notices
    assert [(n.kind, n.recipient) for n in notices] == [
        (HARD, "alice@example.com"),
        (SOFT, "zed@example.com"),
    ]


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "expected"),
    [
        ("5.1.1", "smtp; 550 5.1.1 user unknown", "failed", (HARD, "5.1.1")),
        ("5.1.2", "smtp; 550 5.1.2 bad destination system", "failed", (HARD, "5.1.2")),
        ("5.1.10", "smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound", "failed", (HARD, "5.1.10")),
        ("5.2.2", "smtp; 552 5.2.2 mailbox full", "failed", (SOFT, "5.2.2")),
        ("5.3.4", "smtp; 552 5.3.4 message too big", "failed", (SOFT, "5.3.4")),
        ("4.2.2", "smtp; 452 4.2.2 over quota", "failed", (SOFT, "4.2.2")),
        ("4.4.1", "", "delayed", (DELAY, "4.4.1")),
        ("5.1.1", "smtp; 550 5.1.1 user unknown", "delayed", (DELAY, "5.1.1")),
        ("2.0.0", "smtp; 250 ok", "delivered", (DELIVERED, "2.0.0")),
        ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam", "failed", (POLICY, "5.7.1")),
        ("5.7.1", "smtp; 550 5.7.1 user unknown", "failed", (POLICY, "5.7.1")),
        ("5.0.0", "smtp; 550 5.1.1 <x@example.com>... User unknown", "failed", (HARD, "5.1.1")),
        ("5.0.0", "smtp; 550 5.2.2 <x@example.com>... Mailbox full", "failed", (SOFT, "5.2.2")),
        ("", "smtp; 550 5.7.26 unauthenticated", "failed", (POLICY, "5.7.26")),
        ("5.0.0", "smtp; 550 Requested action not taken: no such user", "failed", (HARD, "5.0.0")),
        ("", "550 Sorry, no mailbox here by that name", "failed", (HARD, "")),
        (
            "",
            "553 sorry, that domain isn't in my list of allowed rcpthosts",
            "failed",
            (UNKNOWN, ""),
        ),
        ("", "550 Benutzer unbekannt", "failed", (HARD, "")),
        ("", "552 Quota exceeded", "failed", (SOFT, "")),
        ("", "452 Too many recipients", "failed", (SOFT, "")),
        ("5.0.0", "", "failed", (UNKNOWN, "5.0.0")),
        ("", "", "failed", (UNKNOWN, "")),
        ("5.5.0", "smtp; 554 blocked using zen.spamhaus.org", "failed", (POLICY, "5.5.0")),
    ],
)
def test_judge(status: str, diagnostic: str, action: str, expected: tuple[Kind, str]) -> None:
    assert judge(status, diagnostic, action=action) == expected


def test_the_verp_address_is_the_first_delivery_of_a_forwarded_mailbox() -> None:
    # The bounce mailbox forwards to a team address: each delivery adds a Delivered-To on
    # top, and ours (the address the MTA sent the bounce to) is the bottom one.
    raw = POSTFIX.replace(
        "Delivered-To: bounces+1001", "Delivered-To: ops-team@gmail.com\nDelivered-To: bounces+1001"
    ).replace("X-Original-To: bounces+1001.Hq3vXk9Z@bounces.news.example.org\n", "")
    (notice,) = read_message(raw.encode()).notices
    assert notice.verp == verp(1001, "Hq3vXk9Z")


def test_without_delivery_headers_the_to_header_is_the_verp_address() -> None:
    raw = "\n".join(
        line
        for line in POSTFIX.split("\n")
        if not line.startswith(("Delivered-To:", "X-Original-To:"))
    )
    (notice,) = read_message(raw.encode()).notices
    assert notice.verp == verp(1001, "Hq3vXk9Z")


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


# Amazon SES notifications as dicts (part C's webhook gives them this way too).


def test_ses_notices_bounce_types() -> None:
    def bounce(bounce_type: str, subtype: str, status: str) -> Kind:
        notification = {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": subtype,
                "bouncedRecipients": [{"emailAddress": "a@example.com", "status": status}],
            },
            "mail": {"source": "bounces+1.x@bounces.news.example.org"},
        }
        (notice,) = ses_notices(notification)
        assert notice.verp == "bounces+1.x@bounces.news.example.org"
        return notice.kind

    assert bounce("Permanent", "General", "5.1.1") is HARD
    assert bounce("Permanent", "General", "") is HARD
    assert bounce("Permanent", "NoEmail", "") is HARD
    assert bounce("Permanent", "Suppressed", "") is HARD
    assert bounce("Permanent", "General", "5.2.2") is SOFT
    assert bounce("Transient", "General", "4.4.7") is SOFT
    assert bounce("Transient", "MailboxFull", "5.2.2") is SOFT
    assert bounce("Transient", "MessageTooLarge", "") is SOFT
    assert bounce("Transient", "ContentRejected", "") is POLICY
    assert bounce("Undetermined", "Undetermined", "") is UNKNOWN


def test_ses_notices_delivery_and_delay() -> None:
    delivery = {
        "eventType": "Delivery",
        "delivery": {"recipients": ["a@example.com", "b@example.com"], "smtpResponse": "250 ok"},
        "mail": {"commonHeaders": {"messageId": "<1@news.example.org>"}},
    }
    assert [(n.kind, n.recipient, n.message_id) for n in ses_notices(delivery)] == [
        (DELIVERED, "a@example.com", "<1@news.example.org>"),
        (DELIVERED, "b@example.com", "<1@news.example.org>"),
    ]
    delay = {
        "eventType": "DeliveryDelay",
        "deliveryDelay": {
            "delayType": "MailboxFull",
            "delayedRecipients": [{"emailAddress": "c@example.com", "status": "4.2.2"}],
        },
    }
    assert [(n.kind, n.recipient) for n in ses_notices(delay)] == [(DELAY, "c@example.com")]


@pytest.mark.parametrize(
    "notification",
    [
        {},
        {"notificationType": "Bounce"},
        {"notificationType": "Bounce", "bounce": "nonsense"},
        {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [1, None, "x", []]}},
        {"notificationType": ["Bounce"], "mail": []},
        {"notificationType": "Complaint", "complaint": {"complainedRecipients": {"a": 1}}},
        {"eventType": "Open", "mail": {"source": 3}},
    ],
)
def test_ses_notices_never_raise_on_a_malformed_notification(
    notification: dict[str, object],
) -> None:
    for notice in ses_notices(notification):
        assert isinstance(notice.recipient, str)


def test_an_ses_complaint_is_no_address() -> None:
    # flufl.bounce takes the JSON of an SES complaint for an address; read as SES, it is a
    # complaint about one recipient.
    notice = only_notice("ses-complaint-mail.json.eml")
    assert notice.kind is COMPLAINT and notice.recipient == "beth@example.com"


def test_an_sns_message_that_is_no_json_is_unknown() -> None:
    body = json.dumps({"Type": "Notification", "Message": "{not json"})
    raw = f"From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n{body}\n"
    (notice,) = read_message(raw.encode()).notices
    assert notice.kind is UNKNOWN


# read_message never raises, whatever the bytes.

SEEDS = sorted((BOUNCES).glob("*.eml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    reading = read_message(raw)
    assert reading.digest == digest_of(raw)
    assert reading.problem or reading.notices


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
    assert reading.problem or reading.notices
    for notice in reading.notices:
        assert "\n" not in notice.diagnostic and "\n" not in notice.recipient


# Report variants and unsubscribe subjects.


def test_a_base64_encoded_delivery_status_is_read() -> None:
    start = POSTFIX.index(STATUS_PART) + len(STATUS_PART)
    end = POSTFIX.index("--4Q9xYz1AbC", start)
    encoded = base64.encodebytes(POSTFIX[start:end].encode()).decode()
    raw = (
        POSTFIX[:start].replace(STATUS_PART, STATUS_PART.strip() + "\n")
        + "Content-Transfer-Encoding: base64\n\n"
        + encoded
        + "\n"
        + POSTFIX[end:]
    )
    reading = read_message(raw.encode())
    assert reading.details["format"] == "dsn"
    assert [(n.kind, n.recipient, n.status) for n in reading.notices] == [
        (HARD, "alice@example.com", "5.1.1")
    ]


def test_an_international_delivery_status_is_read() -> None:
    # RFC 6533: message/global-delivery-status, UTF-8 addresses written as they are.
    raw = (
        POSTFIX.replace("message/delivery-status", "message/global-delivery-status")
        .replace("Original-Recipient: rfc822;alice@example.com\n", "")
        .replace(
            "Final-Recipient: rfc822; alice@example.com",
            "Final-Recipient: utf-8; ålice@exämple.com",
        )
    )
    reading = read_message(raw.encode())
    assert reading.details["format"] == "dsn"
    assert [(n.kind, n.recipient) for n in reading.notices] == [(HARD, "ålice@exämple.com")]


TOKEN = TOKENS["mailto-unsubscribe.eml"]


@pytest.mark.parametrize(
    ("subject", "body", "token"),
    [
        (f"unsubscribe {TOKEN}", "", TOKEN),
        (f"UNSUBSCRIBE {TOKEN}", "", TOKEN),
        (f"Re: Fwd: unsubscribe {TOKEN}", "", TOKEN),
        (f"unsubscribe%20{TOKEN}", "", TOKEN),  # A mail program that did not decode the URL.
        ("Unsubscribe", f"{TOKEN}\n\nthanks", TOKEN),
        ("unsubscribe", f"unsubscribe {TOKEN}", TOKEN),
        ("unsubscribe", "please remove me", ""),
        (f"unsubscribe {TOKEN}x!", "", ""),
    ],
)
def test_unsubscribe_subjects(subject: str, body: str, token: str) -> None:
    raw = f"From: r@example.com\nTo: unsubscribe@news.example.org\nSubject: {subject}\n\n{body}\n"
    (notice,) = read_message(raw.encode()).notices
    assert notice.unsubscribe_token == token
    assert notice.kind is (UNSUBSCRIBE if token else UNKNOWN)


def test_a_newsletter_about_unsubscribing_is_no_unsubscribe_when_auto_replied() -> None:
    raw = (
        f"From: r@example.com\nTo: bounces+1.x@bounces.news.example.org\n"
        f"Auto-Submitted: auto-replied\nSubject: Unsubscribe {TOKEN}\n\nI am away.\n"
    )
    (notice,) = read_message(raw.encode()).notices
    assert notice.kind is AUTOREPLY and notice.unsubscribe_token == ""


def test_a_newsletter_called_vacation_is_no_auto_reply() -> None:
    raw = b"From: r@example.com\nSubject: Re: Our vacation deals\n\nSounds good!\n"
    assert read_message(raw).notices[0].kind is UNKNOWN
    raw = b"From: r@example.com\nSubject: Vacation: The Weekly #42\n\nAway.\n"
    assert read_message(raw).notices[0].kind is AUTOREPLY
