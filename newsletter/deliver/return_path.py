"""VERP return paths: each delivery's envelope sender names the delivery, signed.

With `bounce_address = "bounces@bounces.news.example.org"`, delivery 4711 goes out with the
envelope sender (Return-Path) `bounces+4711-<signature>@bounces.news.example.org`. A bounce
that comes back to that address names the delivery that caused it; the signature (HMAC-SHA256
under a key derived from NEWSLETTER_SECRET_KEY for this purpose only) makes sure nobody can
make up an address that bounces someone else's delivery.

The signature is lowercase base32: MTAs that fold the local part's case still hand back an
address that checks. With Postfix's `recipient_delimiter = +`, every such address is delivered
to the `bounces` mailbox.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Mapping

from newsletter.config.bounce_address import (
    SIGNATURE_LENGTH,
    bounce_address_problem,
)
from newsletter.errors import NewsletterError
from newsletter.subscribers.tokens import check_secret_key

_DELIVERY = re.compile(rf"([1-9][0-9]{{0,18}})-([a-z2-7]{{{SIGNATURE_LENGTH}}})")


class ReturnPaths:
    """Makes and reads the signed per-delivery envelope senders on one bounce address."""

    def __init__(self, secret: str, bounce_address: str) -> None:
        problem = bounce_address_problem(bounce_address)
        if problem:
            raise NewsletterError(f"bounce_address: {problem}", hint="fix bounce_address")
        check_secret_key(secret, "the return paths of bounce_address")
        local, _, domain = bounce_address.lower().rpartition("@")
        self.prefix, self.domain = local, domain
        # A key of its own: a signature made here is worth nothing as a token, and back.
        self._key = hmac.digest(secret.encode("utf-8"), b"newsletter.return-path", "sha256")

    def for_delivery(self, delivery_id: int) -> str:
        """The envelope sender of delivery `delivery_id`: `PREFIX+ID-SIGNATURE@DOMAIN`."""
        if delivery_id <= 0:
            raise ValueError(f"not a delivery id: {delivery_id}")
        return f"{self.prefix}+{delivery_id}-{self._signature(delivery_id)}@{self.domain}"

    def delivery_of(self, address: str) -> int | None:
        """The delivery a return path names; None when it is not one of ours, malformed,
        unsigned or forged (signatures are compared in constant time)."""
        if not isinstance(address, str) or len(address) > 400:
            return None
        address = address.strip().removeprefix("<").removesuffix(">").strip().lower()
        local, at, domain = address.rpartition("@")
        if not at or domain.rstrip(".") != self.domain:
            return None
        prefix, plus, rest = local.partition("+")
        found = _DELIVERY.fullmatch(rest)
        if prefix != self.prefix or not plus or found is None:
            return None
        delivery_id = int(found.group(1))
        expected = self._signature(delivery_id)
        if not hmac.compare_digest(expected.encode("ascii"), found.group(2).encode("ascii")):
            return None
        return delivery_id

    def _signature(self, delivery_id: int) -> str:
        mac = hmac.digest(self._key, f"{delivery_id}@{self.domain}".encode("ascii"), "sha256")
        return base64.b32encode(mac[:10]).decode("ascii").lower()  # 10 bytes: 16 characters.


def return_paths_of(bounce_address: str, secrets: Mapping[str, str]) -> ReturnPaths | None:
    """The configured return paths, or None when `bounce_address` is "" (VERP is off)."""
    if not bounce_address:
        return None
    return ReturnPaths(secrets.get("NEWSLETTER_SECRET_KEY", ""), bounce_address)
