"""The signed ids of tracking URLs: nobody can make one up, so none leads anywhere we did not send.

    /l/LINK                 a link of a sent edition:  LINK = `ID-SIGNATURE` (tracked_link.id)
    /l/LINK/DELIVERY        the same, followed by one reader (tracking = "individual"):
                            DELIVERY = `ID-SIGNATURE`, signed together with the link's mailing
    /o/EDITION[/DELIVERY]   the open pixel of an edition: EDITION = `MAILING-LOCALE-SIGNATURE`

Signatures are HMAC-SHA256 under a key derived from NEWSLETTER_SECRET_KEY for this purpose only,
cut to 80 bits, written as 16 lowercase base32 characters. They never expire: a link in an issue
sent years ago still works as long as the secret key is the same. Ids from another installation
(another key), truncated or altered ones read as None, compared in constant time.
"""

from __future__ import annotations

import base64
import hmac
import re

from newsletter.subscribers.tokens import check_secret_key

SIGNATURE = r"[a-z2-7]{16}"
_ID = r"[1-9][0-9]{0,17}"
_LINK = re.compile(rf"({_ID})-({SIGNATURE})")
_DELIVERY = _LINK
_EDITION = re.compile(rf"({_ID})-([A-Za-z0-9_]{{1,35}})-({SIGNATURE})")


class LinkSigner:
    """Makes and reads the ids of tracking URLs under one installation's secret key."""

    def __init__(self, secret: str) -> None:
        check_secret_key(secret, "tracking links")
        # A key of its own: a signature made here is worth nothing as a token or return path.
        self._key = hmac.digest(secret.encode("utf-8"), b"newsletter.tracking-link", "sha256")

    def link(self, link_id: int) -> str:
        """The id of tracked link `link_id` in its URL: `ID-SIGNATURE`."""
        return f"{link_id}-{self._sign(f'link:{link_id}')}"

    def link_of(self, text: str) -> int | None:
        """The tracked link a URL's id names; None for anything malformed, altered or foreign."""
        found = _LINK.fullmatch(text) if len(text) < 64 else None
        if found is None or not self._valid(f"link:{found.group(1)}", found.group(2)):
            return None
        return int(found.group(1))

    def delivery(self, mailing_id: int, delivery_id: int) -> str:
        """The id of a delivery in its reader's tracking URLs (valid only with its mailing)."""
        return f"{delivery_id}-{self._sign(f'delivery:{mailing_id}:{delivery_id}')}"

    def delivery_of(self, mailing_id: int, text: str) -> int | None:
        """The delivery of `mailing_id` that `text` names; None when it is not one of its own."""
        found = _DELIVERY.fullmatch(text) if len(text) < 64 else None
        if found is None:
            return None
        if not self._valid(f"delivery:{mailing_id}:{found.group(1)}", found.group(2)):
            return None
        return int(found.group(1))

    def edition(self, mailing_id: int, locale: str) -> str:
        """The id of a mailing's edition in its open pixel's URL: `MAILING-LOCALE-SIGNATURE`."""
        return f"{mailing_id}-{locale}-{self._sign(f'open:{mailing_id}:{locale}')}"

    def edition_of(self, text: str) -> tuple[int, str] | None:
        """(mailing, locale) an open pixel's id names; None for anything malformed or altered."""
        found = _EDITION.fullmatch(text) if len(text) < 100 else None
        if found is None:
            return None
        mailing, locale = found.group(1), found.group(2)
        if not self._valid(f"open:{mailing}:{locale}", found.group(3)):
            return None
        return int(mailing), locale

    def _sign(self, message: str) -> str:
        mac = hmac.digest(self._key, message.encode("ascii"), "sha256")
        return base64.b32encode(mac[:10]).decode("ascii").lower()  # 10 bytes: 16 characters.

    def _valid(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self._sign(message).encode(), signature.encode())
