"""Email addresses: validation, the comparison key, and the hash kept on the suppression list.

Plain ASCII addresses (nearly all of them) are checked against a strict pattern, which is the
hot path of a million-row import; anything else (internationalized domains or local parts,
quoted strings) goes through email-validator, which also normalizes it.
"""

from __future__ import annotations

import hashlib
import re

from email_validator import EmailNotValidError, validate_email

# RFC 5322 dot-atom local part and an LDH domain with a letter-only top-level label.
_PLAIN = re.compile(
    r"^(?=.{3,254}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
MAX_LOCAL = 64


class InvalidAddress(ValueError):
    """An address that cannot receive mail; the message says why."""


def normalize_address(raw: str) -> tuple[str, str]:
    """(address as it will be used, comparison key); InvalidAddress if it is not one."""
    address = raw.strip()
    if _PLAIN.match(address):
        local, domain = address.rsplit("@", 1)
        address = f"{local}@{domain.lower()}"
    else:
        try:
            address = validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise InvalidAddress(str(error)) from error
    if len(address.rsplit("@", 1)[0].encode("utf-8")) > MAX_LOCAL:
        # RFC 5321 caps the part before the @ at 64 octets; email-validator lets longer ones pass.
        raise InvalidAddress(f"The part before the @-sign is longer than {MAX_LOCAL} bytes.")
    return address, address_key(address)


def address_key(address: str) -> str:
    """The form two spellings of one address share (local parts compared case-insensitively)."""
    return address.casefold()


def address_hash(key: str) -> str:
    """The suppression-list form of an address: a SHA-256 of its key, not the address itself."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
