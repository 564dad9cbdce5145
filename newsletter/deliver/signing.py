"""Optional DKIM signing: a DKIM-Signature header on each message before it is sent.

The key decides the algorithm: an RSA key signs rsa-sha256 (RFC 6376), an Ed25519 key
ed25519-sha256 (RFC 8463). dkimpy parses the headers and canonicalizes them (relaxed/simple);
the DKIM-Signature header is folded once, as dkimpy folds it, and filled for each message
(_Filled); the signature itself is OpenSSL's, through `cryptography`. dkimpy's own
`dkim.sign` does the RSA arithmetic with Python integers: 9 ms a message (RSA-2048, 24 KB),
which capped a send at about a hundred messages a second. Here a 24 KB message costs about
0.35 ms with RSA-2048 (0.3 ms of it OpenSSL's signature) and 0.08 ms with Ed25519 on a 2-core
machine; the workers sign the next message while the server handles the current one. A signed
send ran at 0.75-0.83 of the unsigned rate with Ed25519 and 0.49 to 0.57 with RSA-2048
(docs/benchmarks.md, "Signed sends").
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Config
from newsletter.deliver.compose import DotSafe
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
)  # fmt: skip
KEY_VARIABLE = "NEWSLETTER_DKIM_PRIVATE_KEY"
KEY_HINT = "use an RSA key of 2048 bits (openssl genrsa) or an Ed25519 key (openssl genpkey)"
SHORTEST_RSA_KEY = 1024  # Bits; receivers ignore signatures by shorter keys (RFC 8301).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# The empty line between header and body, with the end of the line before it.
_BLANK_LINE = re.compile(rb"\n\r?\n")
_HEADER_NAME = b"DKIM-Signature"
_NAME_LENGTH = len(_HEADER_NAME)
# Placeholders of the values a DKIM-Signature header changes in: t= (the time in seconds, 10
# digits from 2001 to 2286), bh= (a SHA-256 hash in base64) and b= (the signature).
_STAMP, _BODY_HASH = b"\x01" * 10, b"\x02" * 44
_PLACEHOLDERS = re.compile(rb"(\x01+|\x02+|\x03+)")
CANONICALIZATION = b"relaxed/simple"  # dkimpy's default: header values may be refolded.


class Signer:
    """Signs messages for one domain with one selector and private key (PEM)."""

    def __init__(self, domain: str, selector: str, key: bytes) -> None:
        # Here, not at the top: only sends that sign need them.
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, utils
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from dkim.canonicalization import CanonicalizationPolicy

        self.domain, self.selector = domain.encode(), selector.encode()
        self.policy = CanonicalizationPolicy.from_c_value(CANONICALIZATION)
        # Most header fields are the same in every message of a send (From, Subject, List-Id,
        # Content-Type): each is canonicalized once (two of dkimpy's regular expressions, 2-3 us).
        self.canonical = functools.lru_cache(maxsize=256)(self._canonical)
        private = private_key(key)
        self.signed_digest: Callable[[bytes], bytes]
        """The signature of a SHA-256 header hash: PKCS#1 v1.5 for RSA, pure Ed25519 of the
        hash for Ed25519 (RFC 8463 3). Made once, not for each message."""
        if isinstance(private, Ed25519PrivateKey):
            self.algorithm, self.signed_digest = b"ed25519-sha256", private.sign
            size = 64  # An Ed25519 signature's bytes.
        else:
            self.algorithm = b"rsa-sha256"
            self.signed_digest = functools.partial(
                private.sign, padding=padding.PKCS1v15(), algorithm=utils.Prehashed(hashes.SHA256())
            )
            size = (private.key_size + 7) // 8  # An RSA signature has the modulus's bytes.
        self.hashed_header = self._hashed_header()
        self.header = self._template(b"\x03" * len(base64.b64encode(bytes(size))))

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        signed = self.signature(message) + message
        # The header's folded lines start with white space: a dot-safe message stays one.
        return DotSafe(signed) if isinstance(message, DotSafe) else signed

    def _canonical(self, name: bytes, value: bytes) -> tuple[bytes, bytes]:
        """The header field as relaxed canonicalization makes it."""
        [(canonical_name, canonical_value)] = self.policy.canonicalize_headers([(name, value)])
        return canonical_name, canonical_value

    def signature(self, message: bytes) -> bytes:
        """The message's DKIM-Signature header field, ending in CRLF: the fields and their
        folding are those of dkimpy's `dkim.sign` (c=relaxed/simple, i=, q=, t=)."""
        import dkim

        head, body = header_and_body(message)
        stamp = str(int(time.time())).encode()
        body_hash = base64.b64encode(hashlib.sha256(self.policy.canonicalize_body(body)).digest())
        hasher = hashlib.sha256()
        headers = [self.canonical(name, value) for name, value in dkim.rfc822_parse(head)[0]]
        for name, value in dkim.select_headers(headers, SIGNED_HEADERS):
            hasher.update(name + b":" + value)
        # The header hash ends with this header itself, b= empty, canonicalized and without
        # its line end (RFC 6376 3.7).
        hasher.update(self.hashed_header.fill(stamp, body_hash))
        signature = base64.b64encode(self.signed_digest(hasher.digest()))
        return _HEADER_NAME + b": " + self.header.fill(stamp, body_hash, signature)

    def _fields(self, stamp: bytes, body_hash: bytes, signature: bytes) -> bytes:
        """The DKIM-Signature header's value, unfolded, in dkimpy's order of fields."""
        fields = [
            (b"v", b"1"), (b"a", self.algorithm), (b"c", CANONICALIZATION),
            (b"d", self.domain), (b"i", b"@" + self.domain), (b"q", b"dns/txt"),
            (b"s", self.selector), (b"t", stamp), (b"h", b" : ".join(SIGNED_HEADERS)),
            (b"bh", body_hash), (b"b", signature),
        ]  # fmt: skip
        return b"; ".join(b"=".join(field) for field in fields)

    def _template(self, signature: bytes) -> _Filled:
        """The folded header, as `dkim.fold` folds it, with the time (10 digits), the body
        hash (44 characters) and `signature` (placeholders of its length) left to fill."""
        import dkim

        folded = dkim.fold(self._fields(_STAMP, _BODY_HASH, signature) + b"\r\n", _NAME_LENGTH)
        return _Filled(folded)

    def _hashed_header(self) -> _Filled:
        """The header as its own hash covers it: folded with sixty zeros in b=, which puts b= on
        a line of its own as dkimpy does (so adding the signature refolds nothing before it),
        then b= emptied and the whole canonicalized (relaxed), without its line end."""
        import dkim

        unsigned = dkim.fold(self._fields(_STAMP, _BODY_HASH, b"0" * 60), _NAME_LENGTH)
        unsigned = dkim.RE_BTAG.sub(b"\\1", unsigned)
        [(name, value)] = self.policy.canonicalize_headers([(_HEADER_NAME, b" " + unsigned)])
        return _Filled(name + b":" + value.rstrip())


class _Filled:
    """Bytes with runs of placeholders, each filled in turn with the next value's characters.

    The DKIM-Signature header changes from message to message only in its time, body hash and
    signature, each of a fixed length and without white space: `dkim.fold` breaks its lines at
    the same places every time, so the header is folded once, with placeholders, and each
    message's values are poured into them: 40 us a message less than folding each time.
    """

    def __init__(self, template: bytes) -> None:
        pieces = _PLACEHOLDERS.split(template)
        self.text = pieces[::2]
        self.runs = [(run[0], len(run)) for run in pieces[1::2]]

    def fill(self, *values: bytes) -> bytes:
        """The template with the placeholders of the i-th kind (\\x01, \\x02...) filled with
        the i-th value, in order across the runs."""
        taken = [0] * len(values)
        out = [self.text[0]]
        for (kind, length), text in zip(self.runs, self.text[1:], strict=True):
            value, at = values[kind - 1], taken[kind - 1]
            out += (value[at : at + length], text)
            taken[kind - 1] = at + length
        if taken != [len(value) for value in values]:
            raise ValueError("DKIM-Signature values of another length than the template's")
        return b"".join(out)


def header_and_body(message: bytes) -> tuple[bytes, bytes]:
    """The header block (its last line end included) and the body with CRLF line ends, split
    at the first empty line as dkimpy's `rfc822_parse` splits it, but without parsing the body
    line by line (a third of a millisecond for 24 KB)."""
    if message.startswith((b"\r\n", b"\n")):  # No header at all.
        head, body = b"", message[message.index(b"\n") + 1 :]
    elif blank := _BLANK_LINE.search(message):
        head, body = message[: blank.start() + 1], message[blank.end() :]
    else:
        return message, b""
    # compose.py's messages (DotSafe) end every line with CRLF already, as the SMTP transport
    # relies on too: only other bytes are searched (36 us for 24 KB) for bare LFs.
    if not isinstance(message, DotSafe) and body.count(b"\n") != body.count(b"\r\n"):
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return head, body


def private_key(pem: bytes) -> RSAPrivateKey | Ed25519PrivateKey:
    """The RSA or Ed25519 private key in the PEM text; NewsletterError for anything else."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.dsa import DSAPrivateKey
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:  # cryptography's word for a key that needs a password.
        raise NewsletterError(
            f"{KEY_VARIABLE}: the DKIM key cannot sign: it is encrypted with a password",
            hint="decrypt it: openssl pkey -in dkim.pem -out dkim-plain.pem",
        ) from None
    except ValueError:
        raise NewsletterError(
            f"{KEY_VARIABLE}: the DKIM key cannot sign: it is not a readable PEM private key",
            hint=KEY_HINT,
        ) from None
    except UnsupportedAlgorithm as error:  # A key type OpenSSL cannot load.
        raise NewsletterError(
            f"{KEY_VARIABLE}: the DKIM key cannot sign: {error}", hint=KEY_HINT
        ) from None
    if isinstance(key, RSAPrivateKey):
        if key.key_size < SHORTEST_RSA_KEY:
            raise NewsletterError(
                f"{KEY_VARIABLE}: the DKIM key cannot sign: an RSA key of {key.key_size} bits "
                f"is too short (receivers ignore signatures of keys under {SHORTEST_RSA_KEY})",
                hint=KEY_HINT,
            )
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key
    kind = (
        "ECDSA" if isinstance(key, EllipticCurvePrivateKey)
        else "DSA" if isinstance(key, DSAPrivateKey)
        else type(key).__name__.removesuffix("PrivateKey")
    )  # fmt: skip
    raise NewsletterError(
        f"{KEY_VARIABLE}: the DKIM key cannot sign: DKIM has no algorithm for {kind} keys, "
        "only for RSA and Ed25519 keys",
        hint=KEY_HINT,
    )


def signer_for(config: Config, secrets: Mapping[str, str]) -> Signer | None:
    """The configured signer; None when `dkim_selector` is empty (no signing)."""
    if not config.dkim_selector:
        return None
    value = secrets.get(KEY_VARIABLE, "").strip()
    if value.startswith("-----BEGIN"):
        key = value.encode()
    elif value and Path(value).is_file():
        key = Path(value).read_bytes()
    else:
        raise NewsletterError(
            f"dkim_selector is set, but {KEY_VARIABLE} holds neither a PEM private key nor a key file",
            hint=f"export {KEY_VARIABLE}=/path/to/dkim.pem, or empty dkim_selector to send unsigned",
        )
    domain = config.dkim_domain or config.sender_address.rpartition("@")[2]
    # Both go into the DKIM-Signature header (s=, d=) and into a DNS name: labels only.
    for setting, value in (("dkim_selector", config.dkim_selector), ("dkim_domain", domain)):
        if not _DNS_NAME.fullmatch(value):
            raise NewsletterError(
                f"{setting} {value!r} is not a DNS name",
                hint="use letters, digits, hyphens and dots, such as news2024 or example.org",
            )
    return Signer(domain, config.dkim_selector, key)
