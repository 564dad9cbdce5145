"""The one check of host names in settings (`transport_url`, `base_url`): a DNS name of
letters, digits and inner hyphens (internationalized names by their IDNA form), or an IP
address; no spaces, no empty or over-long labels."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
HOST_FORM = "a host name or IP address, such as mail.example.org or 127.0.0.1"


def check_host(host: str) -> None:
    """ValueError naming `host` and the allowed form unless it is a host name or IP address."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.rstrip(".").split(".")
    if (
        not ascii_host
        or len(ascii_host) > 253
        or not all(_LABEL.fullmatch(part) for part in labels)
    ):
        raise ValueError(f"host {host!r} is not {HOST_FORM}")


def check_url_characters(url: str) -> None:
    """ValueError for whitespace or control characters in a URL: urllib would drop tabs and
    line breaks without a word, and connect to another host than the one written."""
    bad = next((c for c in url if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"holds a space or control character ({bad!r}): URLs have none")
