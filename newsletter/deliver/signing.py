"""Optional DKIM signing: a DKIM-Signature header on each message before it is sent.

The key decides the algorithm: an RSA key signs rsa-sha256 (RFC 6376), an Ed25519 key
ed25519-sha256 (RFC 8463). dkimpy parses the headers, canonicalizes (relaxed/simple) and builds
the header hash; the signature itself is OpenSSL's, through `cryptography`. dkimpy's own
`dkim.sign` does the RSA arithmetic with Python integers: 9 ms a message (RSA-2048, 24 KB),
which capped a send at about a hundred messages a second. Here a 24 KB message costs about
0.4 ms with RSA-2048 (0.3 ms of it OpenSSL's signature) and 0.15 ms with Ed25519 on a 2-core
machine; a signed send ran at 0.75 of the unsigned rate with Ed25519 and 0.43 to 0.49 with
RSA-2048 on a quiet machine (docs/benchmarks.md, "Signed sends").
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
        else:
            self.algorithm = b"rsa-sha256"
            self.signed_digest = functools.partial(
                private.sign, padding=padding.PKCS1v15(), algorithm=utils.Prehashed(hashes.SHA256())
            )

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

        policy = self.policy
        head, body = header_and_body(message)
        body_hash = hashlib.sha256(policy.canonicalize_body(body)).digest()
        fields = [
            (b"v", b"1"), (b"a", self.algorithm), (b"c", CANONICALIZATION),
            (b"d", self.domain), (b"i", b"@" + self.domain), (b"q", b"dns/txt"),
            (b"s", self.selector), (b"t", str(int(time.time())).encode()),
            (b"h", b" : ".join(SIGNED_HEADERS)), (b"bh", base64.b64encode(body_hash)),
            # Sixty zeros put b= on a line of its own, so adding the signature refolds nothing
            # before it (what dkimpy does).
            (b"b", b"0" * 60),
        ]  # fmt: skip
        # The header hash covers this header with an empty b=, unterminated (RFC 6376 3.7).
        unsigned = dkim.fold(b"; ".join(b"=".join(f) for f in fields), namelen=len(_HEADER_NAME))
        unsigned = dkim.RE_BTAG.sub(b"\\1", unsigned)
        hasher = hashlib.sha256()
        headers = [self.canonical(name, value) for name, value in dkim.rfc822_parse(head)[0]]
        dkim.hash_headers(
            hasher, policy, headers, SIGNED_HEADERS, (_HEADER_NAME, b" " + unsigned), {}
        )
        fields[-1] = (b"b", base64.b64encode(self.signed_digest(hasher.digest())))
        value: bytes = dkim.fold(
            b"; ".join(b"=".join(f) for f in fields) + b"\r\n", namelen=len(_HEADER_NAME)
        )
        return _HEADER_NAME + b": " + value


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
