"""Message templates: filled per recipient, they decode to exactly the personalized parts."""

from __future__ import annotations

import base64
import quopri
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from newsletter.config import Config
from newsletter.deliver.compose import Content, MessageTemplate, Recipient, Sender, quoted_printable
from newsletter.deliver.signing import Signer, signer_for
from newsletter.errors import NewsletterError
from newsletter.render.merge import personalize

SENDER = Sender(
    "Rédaction IA", "weekly@news.example.org", "", "AI Weekly", "leave@news.example.org"
)
DATE = "Sun, 22 Nov 2026 09:00:00 +0000"


def recipient(name: str = "Zoë O'Brien", email: str = "zoe@example.org") -> Recipient:
    return Recipient(
        email=email,
        name=name,
        message_id="<abc.7@news.example.org>",
        unsubscribe_url="https://news.example.org/unsubscribe/TOKEN-1",
        preferences_url="https://news.example.org/preferences/TOKEN-2",
        unsubscribe_token="TOKEN-1",
    )


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def expected(content: Content, to: Recipient) -> tuple[str, str]:
    values = {
        "name": to.name,
        "email": to.email,
        "unsubscribe_url": to.unsubscribe_url,
        "preferences_url": to.preferences_url,
        "web_url": content.web_url,
    }
    return personalize(content.html, content.text, values)


def parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return html.replace("\r\n", "\n"), text.replace("\r\n", "\n")


# Chinese body text makes base64 the shorter encoding; the placeholders sit at every offset
# modulo 3 so that each alignment of the text after a merged line is used.
CHINESE = "".join(f"第{n}段：人工智能的新闻。\n" + "字" * n + " %%nl_name%%\n" for n in range(7))
CASES = {
    "ascii": Content(
        "en",
        "Weekly: Sora & friends, not =?utf-8?q?an_encoded_word?=",
        "<p>Hello %%nl_name%%,</p>\n<p>.starts with a dot = 3D</p>\n"
        + "."
        + "x" * 74
        + "\n"
        + "y" * 76
        + '<a href="%%nl_web_url%%">'
        + "z" * 80
        + "\n"
        '<a href="%%nl_unsubscribe_url%%">unsubscribe</a> <a href="%%nl_web_url%%">web</a>\n'
        + "<p>"
        + "long line " * 40
        + "</p>\n",
        "Hello %%nl_name%%\n.dot line\nUnsubscribe: %%nl_unsubscribe_url%%\n",
        "https://news.example.org/en/weekly/",
    ),
    "chinese": Content(
        "zh",
        "人工智能周报（2024.3.18–3.22）：苹果 MM1 与微软",
        f'<html><body>\n{CHINESE}<a href="%%nl_preferences_url%%">设置</a>\n</body></html>',
        CHINESE + "退订：%%nl_unsubscribe_url%%",
        "https://news.example.org/zh/weekly/",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    "name", ["Zoë O'Brien", "", "张伟", 'Bob "the builder" <b@x>', "A\r\nBcc: x@y"]
)
def test_a_filled_message_decodes_to_the_personalized_parts(case: str, name: str) -> None:
    content = CASES[case]
    to = recipient(name)
    data = MessageTemplate(content, SENDER).fill(to, DATE)
    assert data.isascii()
    lines = data.split(b"\r\n")
    assert all(len(line) <= 998 and not line.startswith(b".") for line in lines)
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    body = data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body) <= 76  # RFC 2045 for both encodings
    message = parse(data)
    assert message["Subject"] == content.subject
    assert message["To"].addresses[0].addr_spec == to.email
    assert message["To"].addresses[0].display_name == " ".join(name.split()) or not name
    assert "Bcc" not in message
    assert message["Message-ID"] == to.message_id and message["Date"] == DATE
    assert message["Content-Language"] == content.locale
    html, text = expected(content, to)
    assert parts(message) == (html.replace("\r\n", "\n"), text)  # A CR in a name: a line break.
    encodings = {part["Content-Transfer-Encoding"] for part in message.iter_parts()}
    assert encodings == ({"base64"} if case == "chinese" else {"quoted-printable"})
    if case == "chinese":  # Text in base64 carries CRLF line breaks (RFC 2045 canonical form).
        for part in message.iter_parts():
            decoded = part.get_payload(decode=True)
            assert b"\r\n" in decoded and b"\n" not in decoded.replace(b"\r\n", b"")


@pytest.mark.parametrize("ending", ["\t", " ", " \t"])
def test_quoted_printable_lines_stay_within_76_when_a_line_ends_in_white_space(
    ending: str,
) -> None:
    # binascii writes the encoded white space at a line's end (`=09`) past the 76th character.
    text = "مرحبا بالعالم " * 8 + ending + "\nnext line\n"
    encoded = quoted_printable(text)
    assert max(len(line) for line in encoded.split(b"\r\n")) <= 76, encoded
    assert quopri.decodestring(encoded).decode("utf-8").replace("\r\n", "\n") == text


def test_the_test_flag_marks_the_subject() -> None:
    data = MessageTemplate(CASES["ascii"], SENDER, test=True).fill(recipient(), DATE)
    assert (
        parse(data)["Subject"] == "[TEST] Weekly: Sora & friends, not =?utf-8?q?an_encoded_word?="
    )


def _key() -> tuple[bytes, bytes]:
    """A fresh RSA-2048 key pair: the private key (PEM) and the DNS TXT record of its public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_a_dkim_signed_message_verifies() -> None:
    private, record = _key()
    config = Config(sender_address="weekly@news.example.org", dkim_selector="nl2026")
    signer = signer_for(config, {"NEWSLETTER_DKIM_PRIVATE_KEY": private.decode()})
    assert isinstance(signer, Signer)
    data = signer.sign(MessageTemplate(CASES["chinese"], SENDER).fill(recipient("张伟"), DATE))
    assert data.startswith(b"DKIM-Signature: ")
    looked_up = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record

    assert dkim.verify(data, dnsfunc=dns)
    assert looked_up == [b"nl2026._domainkey.news.example.org."]
    tampered = data.replace(b"%20TOKEN-1", b"%20TOKEN-X")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_dkim_without_a_usable_key_is_a_clear_error(tmp_path: Path) -> None:
    config = Config(dkim_selector="nl2026")
    with pytest.raises(NewsletterError, match="NEWSLETTER_DKIM_PRIVATE_KEY holds neither"):
        signer_for(config, {})
    (tmp_path / "bad.pem").write_text("-----BEGIN PRIVATE KEY-----\nnope\n", encoding="utf-8")
    with pytest.raises(NewsletterError, match="the DKIM key cannot sign"):
        signer_for(config, {"NEWSLETTER_DKIM_PRIVATE_KEY": str(tmp_path / "bad.pem")})
    assert signer_for(Config(), {}) is None
