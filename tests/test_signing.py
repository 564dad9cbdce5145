"""DKIM signing with RSA and Ed25519 keys: every signature is checked by dkimpy's verifier."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from newsletter.config import Config
from newsletter.deliver.compose import Content, DotSafe, MessageTemplate
from newsletter.deliver.signing import SIGNED_HEADERS, Signer, signer_for
from newsletter.errors import NewsletterError

from .conftest import SmtpServer
from .test_compose import CASES, DATE, SENDER, recipient
from .test_delivery import ISSUE, READERS, make_project, newsletter

DOMAIN = "news.example.org"
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
# A 512-bit RSA key (cryptography makes none under 1024 bits): too short for DKIM.
SHORT_RSA = """-----BEGIN PRIVATE KEY-----
MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAtKkYbEXbo8lr3GK/
HYFI6p443k1UTZewJdrPmUP9FWV9iYqlFYQjrCji067weSCMhII0I3qYETswjp+D
xLg19QIDAQABAkA5GnXAy3f4VlNEjuXPwqy0lBxvj8vE1txzqq0Ryd62Ix1GcIH2
bVK9SNHIDwDYuA2EKdXFdmZcghLMYZSkDrOFAiEA263lkP2ZOBvHBBhvuENYPtAe
sNZSvTIvaG5BHi2xSfMCIQDSh7LEMtFi1niYkCgWEV00WvXiWDbSqqRT17KnnKVS
dwIgTmSZBoupEL/A3nJF8/B8XjXwrdRdxExTZKXrsPRHTwcCICI9pcqZRUrg/P47
O/nS2yjfvmwQ0uHSlSV5yHnQVWcjAiEAzc63hQZR9lHDWda848albDefbYfnf4ez
zWSaSw36bo0=
-----END PRIVATE KEY-----
"""


def pem(key: PrivateKey | dsa.DSAPrivateKey, password: bytes = b"") -> str:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def key_pair(kind: str) -> tuple[str, Callable[..., bytes]]:
    """A fresh private key (PEM) and a DNS lookup answering with its public key's TXT record."""
    if kind == "rsa":
        key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:  # RFC 8463: p= holds the 32 bytes of the Ed25519 public key itself.
        key = ed25519.Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    record = f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode()}".encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl2026._domainkey." + DOMAIN.encode() + b"."
        return record

    return pem(key), lookup


def signer(private: str) -> Signer:
    config = Config(sender_address=f"weekly@{DOMAIN}", dkim_selector="nl2026")
    made = signer_for(config, {"NEWSLETTER_DKIM_PRIVATE_KEY": private})
    assert made is not None
    return made


LONG_SUBJECT = "Wöchentlich: " + "Modelle, Chips und Geld in drei Geschichten; " * 6
MESSAGES: dict[str, Callable[[], bytes]] = {
    "chinese headers and base64 body": lambda: MessageTemplate(CASES["chinese"], SENDER).fill(
        recipient("张伟"), DATE
    ),
    "dot lines, quoted-printable": lambda: MessageTemplate(CASES["ascii"], SENDER).fill(
        recipient(), DATE
    ),
    "long folded subject and To": lambda: MessageTemplate(
        Content("de", LONG_SUBJECT, "<p>Hallo</p>", "Hallo\n", "https://x.org/"), SENDER
    ).fill(recipient("Ünïcödé " * 12, "long.name@example.org"), DATE),
    "trailing blank lines and white space": lambda: (
        b"From: weekly@news.example.org\r\nTo:  reader@example.org \r\nSubject: Hi\r\n"
        b"  there\r\n\r\nbody line \t \r\n\r\n\r\n\r\n"
    ),
    "bare LF line ends": lambda: (
        b"From: weekly@news.example.org\nTo: reader@example.org\nSubject: Hi\n\n"
        b"first\nsecond\r\nthird\n\n"
    ),
    "no body": lambda: b"From: weekly@news.example.org\r\nSubject: empty\r\n",
}


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_every_signature_verifies_with_dkimpy(kind: str, case: str) -> None:
    private, lookup = key_pair(kind)
    message = MESSAGES[case]()
    signed = signer(private).sign(message)
    assert signed.endswith(message)
    assert dkim.verify(signed, dnsfunc=lookup)
    header = signed.removesuffix(message)
    assert header.startswith(b"DKIM-Signature: ") and header.endswith(b"\r\n")
    fields = dkim.util.parse_tag_value(header.split(b":", 1)[1])
    assert fields[b"a"] == f"{kind}-sha256".encode()
    assert (fields[b"d"], fields[b"s"]) == (DOMAIN.encode(), b"nl2026")
    # Any change to a signed header or to the body breaks the signature.
    for tampered in (signed.replace(b"From: ", b"From: x"), signed + b"\r\nP.S.\r\n"):
        assert not dkim.verify(tampered, dnsfunc=lookup)


def test_a_dot_safe_message_stays_dot_safe_when_signed() -> None:
    private, lookup = key_pair("ed25519")
    message = MESSAGES["dot lines, quoted-printable"]()
    assert isinstance(message, DotSafe)
    signed = signer(private).sign(message)
    assert isinstance(signed, DotSafe)
    assert not any(line.startswith(b".") for line in signed.split(b"\r\n"))
    assert dkim.verify(signed, dnsfunc=lookup)


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return key_pair("rsa")[0]


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_an_rsa_signature_is_byte_for_byte_dkimpys_own(rsa_key: str, case: str) -> None:
    """The header is folded once with placeholders and filled for each message: the result
    must be what dkimpy folds and signs from scratch, whatever the headers and body."""
    message = MESSAGES[case]()
    ours = signer(rsa_key)
    for _ in range(3):  # Both put the current second in t=: retry when the second turned.
        before = time.time()
        header = ours.signature(message)
        theirs = dkim.sign(
            message, b"nl2026", DOMAIN.encode(), rsa_key.encode(), include_headers=SIGNED_HEADERS
        )
        if int(before) == int(time.time()):
            break
    assert header == theirs


@pytest.mark.parametrize(
    ("bits", "selector", "domain"),
    [
        (1024, "s", "x.org"),
        (4096, "news2026", DOMAIN),
        (2048, "a" * 63, "b" * 63 + ".example.org"),  # The longest label: other line breaks.
    ],
)
def test_the_folded_header_is_dkimpys_for_any_key_size_and_names(
    bits: int, selector: str, domain: str
) -> None:
    """The signature's length (the key's size) and the names set where dkimpy breaks the
    header's lines; the template must break them at the same places, message after message."""
    private = pem(rsa.generate_private_key(public_exponent=65537, key_size=bits))
    ours = Signer(domain, selector, private.encode())
    for case in ("chinese headers and base64 body", "long folded subject and To"):
        message = MESSAGES[case]()
        for _ in range(3):  # Both put the current second in t=: retry when the second turned.
            before = time.time()
            header = ours.signature(message)
            theirs = dkim.sign(
                message, selector.encode(), domain.encode(), private.encode(),
                include_headers=SIGNED_HEADERS,
            )  # fmt: skip
            if int(before) == int(time.time()):
                break
        assert header == theirs


def test_a_send_signed_with_an_ed25519_key_verifies_for_every_reader(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    private, lookup = key_pair("ed25519")
    project = make_project(tmp_path, f"{smtp_server.url}?connections=2", dkim_selector='"nl2026"')
    code, output = newsletter(project, "send", ISSUE, env={"NEWSLETTER_DKIM_PRIVATE_KEY": private})
    assert code == 0, output
    received = smtp_server.received
    assert sorted(r for m in received for r in m.recipients) == sorted(r[0] for r in READERS)
    for message in received:
        assert message.data.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;")
        assert dkim.verify(message.data, dnsfunc=lookup), message.recipients


@pytest.mark.parametrize(
    ("key", "said"),
    [
        (lambda: pem(ec.generate_private_key(ec.SECP256R1())), "no algorithm for ECDSA keys"),
        (lambda: pem(dsa.generate_private_key(2048)), "no algorithm for DSA keys"),
        (lambda: SHORT_RSA, "an RSA key of 512 bits is too short"),
        (lambda: pem(ed25519.Ed25519PrivateKey.generate(), b"pw"), "encrypted with a password"),
        (lambda: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "not a readable"),
    ],
)
def test_a_key_that_cannot_sign_dkim_is_one_clear_error(key: Callable[[], str], said: str) -> None:
    with pytest.raises(NewsletterError, match="the DKIM key cannot sign") as raised:
        signer(key())
    assert said in raised.value.message
    assert "\n" not in str(raised.value)
    assert raised.value.hint
