"""The form of `bounce_address`, the base of the VERP return paths (deliver/return_path.py):
checked when the configuration loads, so a send never starts with one that cannot work."""

from __future__ import annotations

import re

SIGNATURE_LENGTH = 16
"""Base32 characters of a return path's signature: 80 bits, far beyond guessing one."""
MAX_LOCAL = 64
# The part before the `+` of a bounce address: one dot-atom without `+` (the delimiter MTAs
# split on), short enough to leave room for the id and the signature within 64 octets.
MAX_PREFIX = MAX_LOCAL - 1 - 19 - 1 - SIGNATURE_LENGTH
_PREFIX = re.compile(r"[a-z0-9!#$%&'*/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*/=?^_`{|}~-]+)*")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def bounce_address_problem(address: str) -> str | None:
    """Why `address` cannot be the base of VERP return paths, or None when it can."""
    local, at, domain = address.rpartition("@")
    if not at or not _PREFIX.fullmatch(local.lower()) or not _DOMAIN.fullmatch(domain.lower()):
        return (
            f"{address!r} must be a plain ASCII address without `+`, "
            "such as bounces@bounces.news.example.org"
        )
    if len(local) > MAX_PREFIX:
        return (
            f"the part before the @ is longer than {MAX_PREFIX} characters: the delivery id "
            "and its signature must fit in 64"
        )
    return None
