"""Compose's merge, for any text and any values: a filled body decodes to exactly the merged text.

Hypothesis draws the rendered text (placeholders at any position: line start, line end, mid-line,
next to dots, spaces, `=`, CJK, Arabic, long lines) and the recipient's values; both transfer
encodings are forced in turn, and the message is read back with Python's `email` package.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.deliver.compose import (
    Base64Body,
    Content,
    MessageTemplate,
    QuotedPrintableBody,
    Recipient,
    Sender,
    _segments,
)
from newsletter.render.merge import (
    FIELDS,
    MergeTemplate,
    escaped,
    html_escape,
    personalize,
    placeholder,
    text_escape,
)

SENDER = Sender("AI Weekly", "weekly@news.example.org", "", "AI Weekly", "leave@news.example.org")
DATE = "Sun, 22 Nov 2026 09:00:00 +0000"
PROPERTY = settings(max_examples=250, deadline=None, derandomize=True, database=None)
"""Deterministic (the same examples on every run) and untimed: no flaky test from chance."""

# Text without lone surrogates: the rendered text is valid Unicode (render strips the rest).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
PIECES = st.one_of(
    ANY_TEXT,
    st.sampled_from(
        [
            "\n",
            "\r\n",
            "\r",
            " ",
            "  \n",
            "\t\n",
            ".",
            "\n.",
            "=",
            "=\n",
            "From ",
            "x" * 80,
            "人工智能" * 30,
            "مرحبا بالعالم " * 8,
            "e\u0301",
            "👩‍💻",
            "\n\n",
        ]
    ),
    st.sampled_from([placeholder(field) for field in FIELDS if field != "confirm_url"]),
)
RENDERED = st.lists(PIECES, max_size=30).map("".join)
VALUE = st.one_of(
    ANY_TEXT,
    st.sampled_from(
        [
            "",
            ".",
            ".starts with a dot",
            "https://news.example.org/unsubscribe/1.cfe00dde46ef9426.axB3QA.yue4_-SWJZvPCrucJ5f",
            "https://news.example.org/" + "x" * 150,
            "https://news.example.org/" + "." * 90,
            "a=b c ",
            "张伟",
            "نور",
        ]
    ),
)
VALUES = st.fixed_dictionaries(dict.fromkeys(FIELDS, VALUE))
URL = st.from_regex(r"https://news\.example\.org/[A-Za-z0-9._~/-]{0,120}", fullmatch=True)


def _decoded(encoding: str, body: bytes) -> str:
    """A body as the `email` package reads it, line breaks as `\\n`."""
    head = f'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    message = message_from_bytes(head.encode("ascii") + body, policy=policy.default)
    assert isinstance(message, EmailMessage)
    content = message.get_content()
    assert isinstance(content, str)
    return _lines(content)


def _lines(text: str) -> str:
    """Text with every line break (CRLF, CR, LF) as `\\n`: what a transfer encoding keeps."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _expected(rendered: str, values: dict[str, str], html: bool) -> str:
    escape = html_escape if html else text_escape
    return _lines(MergeTemplate.compile(_lines(rendered)).fill(escaped(values, escape)))


def _assert_wire_form(body: bytes) -> None:
    """Lines of at most 76 characters, CRLF only, none starting with a dot (no dot-stuffing)."""
    assert body.isascii()
    lines = body.split(b"\r\n")
    assert all(len(line) <= 76 and not line.startswith(b".") for line in lines)
    assert b"\r" not in body.replace(b"\r\n", b"") and b"\n" not in body.replace(b"\r\n", b"")


@PROPERTY
@given(rendered=RENDERED, values=VALUES, html=st.booleans())
def test_quoted_printable_fill_decodes_to_the_merged_text(
    rendered: str, values: dict[str, str], html: bool
) -> None:
    body = QuotedPrintableBody(MergeTemplate.compile(_lines(rendered)), html).encode(
        escaped(values, html_escape), escaped(values, text_escape)
    )
    _assert_wire_form(body)
    assert _decoded("quoted-printable", body) == _expected(rendered, values, html)


@PROPERTY
@given(rendered=RENDERED, values=VALUES, html=st.booleans())
def test_base64_fill_decodes_to_the_merged_text(
    rendered: str, values: dict[str, str], html: bool
) -> None:
    body = Base64Body(_segments(_lines(rendered)), html).encode(
        escaped(values, html_escape), escaped(values, text_escape)
    )
    _assert_wire_form(body)
    assert _decoded("base64", body) == _expected(rendered, values, html)


@PROPERTY
@given(html=RENDERED, text=RENDERED, values=VALUES, links=st.lists(URL, min_size=3, max_size=3))
def test_a_whole_message_decodes_to_the_personalized_parts(
    html: str, text: str, values: dict[str, str], links: list[str]
) -> None:
    # The address and links also stand in headers (To, List-Unsubscribe): real ones here.
    values = {
        **values,
        "email": "reader@example.org",
        **dict(zip(("unsubscribe_url", "preferences_url", "web_url"), links, strict=True)),
    }
    content = Content("en", "Subject", html, text, values["web_url"])
    to = Recipient(
        values["email"], values["name"], "<a.1@news.example.org>",
        values["unsubscribe_url"], values["preferences_url"], "TOKEN", values["click"],
    )  # fmt: skip
    message = message_from_bytes(
        MessageTemplate(content, SENDER).fill(to, DATE), policy=policy.default
    )
    assert isinstance(message, EmailMessage)
    want_html, want_text = personalize(html, text, values)
    got = [_lines(part.get_content()) for part in message.iter_parts()]  # type: ignore[union-attr]
    assert got == [_lines(want_text), _lines(want_html)]
