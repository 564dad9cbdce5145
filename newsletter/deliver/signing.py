"""Optional DKIM signing (dkimpy): a DKIM-Signature header on each message before it is sent.

dkimpy signs in pure Python (RSA-2048: about 8.5 ms a message on a 2-core machine), which caps
a send at about a hundred messages a second per process. Above that, sign in the MTA instead
(OpenDKIM with Postfix, or the ESP) and leave `dkim_selector` empty here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from newsletter.config import Config
from newsletter.deliver.compose import DotSafe
from newsletter.errors import NewsletterError

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"reply-to", b"list-id",
    b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version", b"content-type",
)  # fmt: skip
KEY_VARIABLE = "NEWSLETTER_DKIM_PRIVATE_KEY"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class Signer:
    """Signs messages for one domain with one selector and private key."""

    def __init__(self, domain: str, selector: str, key: bytes) -> None:
        self.domain, self.selector, self.key = domain.encode(), selector.encode(), key

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        import dkim  # Here, not at the top: only sends that sign need it.

        header: bytes = dkim.sign(
            message, self.selector, self.domain, self.key, include_headers=list(SIGNED_HEADERS)
        )
        signed = header + message
        # The header's folded lines start with white space: a dot-safe message stays one.
        return DotSafe(signed) if isinstance(message, DotSafe) else signed


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
    signer = Signer(domain, config.dkim_selector, key)
    import dkim

    try:
        signer.sign(b"From: check@" + domain.encode() + b"\r\n\r\nkey check\r\n")
    except dkim.DKIMException as error:
        raise NewsletterError(
            f"{KEY_VARIABLE}: the DKIM key cannot sign: {error}",
            hint="use an RSA private key in PEM form",
        ) from error
    return signer
