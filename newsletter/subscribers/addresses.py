"""Email addresses: validation, the comparison key, and the hash kept on the suppression list.

Plain ASCII addresses (nearly all of them) are checked against a strict pattern, which is the
hot path of a million-row import; anything else (internationalized domains or local parts,
quoted strings) goes through email-validator, which also normalizes it.
"""

from __future__ import annotations

import hashlib
import re

import idna
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
        if "xn--" in address:  # A-labels must decode; the address keeps the form written.
            _validate(address)
    else:
        address = _validate(address)
    if len(address.rsplit("@", 1)[0].encode("utf-8")) > MAX_LOCAL:
        # RFC 5321 caps the part before the @ at 64 octets; email-validator lets longer ones pass.
        raise InvalidAddress(f"The part before the @-sign is longer than {MAX_LOCAL} bytes.")
    return address, address_key(address)


def _validate(address: str) -> str:
    """The address as email-validator normalizes it; InvalidAddress with its reason."""
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from error


def address_key(address: str) -> str:
    """The form two spellings of one address share: local part and domain case-folded, the
    domain in its Unicode form whether it was written so or as IDNA A-labels (`xn--...`)."""
    local, at, domain = address.casefold().rpartition("@")
    if not at:
        return address.casefold()
    return f"{local}@{_unicode_domain(domain)}"


def mailbox_key(key: str) -> str:
    """The mailbox an address key delivers to: a `+tag` after the local part left out.

    `victim+1@example.org` and `victim+2@example.org` are two addresses (each is stored as
    written) but one person's inbox: what limits mail a stranger can trigger counts per mailbox.
    """
    local, at, domain = key.rpartition("@")
    base = local.split("+", 1)[0]
    return f"{base}@{domain}" if at and base else key


def key_spellings(key: str) -> tuple[str, ...]:
    """The key, then the same key with the domain in A-labels, the key releases before
    migration 0005 made for an address written so: suppression hashes and link tokens made from
    either still hold."""
    local, at, domain = key.rpartition("@")
    if not at or domain.isascii():
        return (key,)
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return (key,)
    return (key, f"{local}@{ascii_domain}")


def _unicode_domain(domain: str) -> str:
    """`domain` (case-folded) with its A-labels decoded; as it was when they are not valid."""
    if "xn--" not in domain:
        return domain
    try:
        return str(idna.decode(domain, uts46=True))
    except idna.IDNAError:
        return domain


def address_hashes(key: str) -> tuple[str, ...]:
    """The suppression hashes an address may be on the list under (see `key_spellings`)."""
    return tuple(address_hash(spelling) for spelling in key_spellings(key))


def address_hash(key: str) -> str:
    """The suppression-list form of an address: a SHA-256 of its key, not the address itself."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
