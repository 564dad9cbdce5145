"""A transport URL read and checked: scheme, host, port and options within their bounds.

    smtp://[user@]host[:port][?connections=N&rate=R&timeout=S&starttls=require]
    smtps://[user@]host[:port][?connections=N&rate=R&timeout=S]
    eml:DIR | mbox:FILE | null:

The one parser of `transport_url`: the configuration checks it when it loads (so this module
imports nothing heavy), and the transports are opened from what it returns.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import parse_qs, urlsplit

from newsletter.config.hosts import check_host, check_url_characters

SCHEMES = ("smtp", "smtps", "eml", "mbox", "null")
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_CONNECTIONS = 4
DEFAULT_TIMEOUT = 30.0
EXAMPLE = "smtp://mail.example.org:587?connections=4&rate=50"
# A host name label; `_` is not DNS but container and intranet names use it.


@dataclass(frozen=True)
class Option:
    """A query parameter of smtp:// and smtps:// URLs, its bounds, and what it means."""

    parse: Callable[[str], float | str]
    allowed: str
    """The allowed values, as the error message names them."""
    meaning: str


def _number(low: float, high: float, whole: bool) -> Callable[[str], float | str]:
    def parse(text: str) -> float | str:
        value = float(text) if not whole else int(text)
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(text)
        return value

    return parse


def _starttls(text: str) -> str:
    if text not in ("require", "auto"):
        raise ValueError(text)
    return text


OPTIONS: dict[str, Option] = {
    "connections": Option(
        _number(1, 64, whole=True),
        "a whole number from 1 to 64",
        "parallel SMTP connections, one worker process each",
    ),
    "rate": Option(
        _number(0.01, 100_000, whole=False),
        "a number of messages per second from 0.01 to 100000",
        "messages per second over all connections",
    ),
    "timeout": Option(
        _number(1, 600, whole=False),
        "a number of seconds from 1 to 600",
        "seconds to wait for the server before a connection counts as failed",
    ),
    "starttls": Option(
        _starttls,
        "require or auto",
        "require: refuse a server that does not offer STARTTLS (smtp:// only)",
    ),
}


@dataclass(frozen=True)
class TransportUrl:
    """What a transport URL says, checked."""

    scheme: str
    host: str = ""
    port: int = 0
    username: str | None = None
    path: str = ""
    """The folder (eml:) or file (mbox:), as written: relative to the project folder."""
    connections: int = 1
    rate: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    require_starttls: bool = False

    @property
    def is_smtp(self) -> bool:
        """Whether messages go over SMTP (and may use several connections)."""
        return self.scheme in DEFAULT_PORTS


def parse_transport_url(url: str) -> TransportUrl:
    """The checked parts of `url`; ValueError saying what is wrong and what is allowed."""
    scheme, colon, rest = url.strip().partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in SCHEMES:
        raise ValueError(
            "must start with one of "
            + ", ".join(f"{s}:" for s in SCHEMES)
            + f", such as {EXAMPLE} or eml:outbox"
        )
    if scheme in DEFAULT_PORTS:
        return _smtp(url.strip(), scheme)
    if scheme == "null":
        if rest:
            raise ValueError(f"null: takes nothing after the colon, found {rest!r}")
        return TransportUrl("null")
    return TransportUrl(scheme, path=_file_path(scheme, rest))


def transport_path(transport: TransportUrl, root: Path) -> Path:
    """The folder (eml:) or file (mbox:) of `transport`, relative paths from `root`."""
    path = Path(transport.path)
    return path if path.is_absolute() else root / path


def path_problem(transport: TransportUrl, root: Path) -> str | None:
    """What keeps messages from being written where an eml: or mbox: URL says, or None."""
    if transport.scheme not in ("eml", "mbox"):
        return None
    path = transport_path(transport, root)
    if transport.scheme == "eml" and path.exists() and not path.is_dir():
        return f"eml:{transport.path}: {path} is a file; eml: needs a folder"
    if transport.scheme == "mbox" and path.is_dir():
        return f"mbox:{transport.path}: {path} is a folder; mbox: needs a file"
    folder = path.parent if transport.scheme == "mbox" else path
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{transport.scheme}:{transport.path}: {existing} is a file, not a folder"
    return None


def _smtp(url: str, scheme: str) -> TransportUrl:
    check_url_characters(url)
    try:
        parts = urlsplit(url)  # The port is read by _port: parts.port accepts " 25" and "+25".
    except ValueError as error:  # An unclosed [IPv6 bracket.
        raise ValueError(f"is not a valid URL: {error}") from None
    if not url[len(scheme) + 1 :].startswith("//"):
        raise ValueError(f"write it as {scheme}://host:port, e.g. {EXAMPLE}")
    if parts.password is not None:
        raise ValueError(
            "holds a password: remove it and set NEWSLETTER_SMTP_PASSWORD in the environment"
        )
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"names no host: write {scheme}://HOST:PORT, e.g. {EXAMPLE}")
    check_host(host)
    port = _port(parts.netloc.rpartition("@")[2], scheme)
    if parts.path not in ("", "/") or parts.fragment:
        extra = parts.path + (f"#{parts.fragment}" if parts.fragment else "")
        raise ValueError(
            f"{extra!r} after the host: {scheme}:// takes host, port and ?options only"
        )
    values = _options(parts.query, scheme)
    connections = int(values.get("connections", DEFAULT_CONNECTIONS))
    rate = values.get("rate")
    return TransportUrl(
        scheme,
        host=host,
        port=port,
        username=parts.username or None,
        connections=connections,
        rate=float(rate) if rate is not None else None,
        timeout=float(values.get("timeout", DEFAULT_TIMEOUT)),
        require_starttls=values.get("starttls") == "require",
    )


def _port(netloc: str, scheme: str) -> int:
    """The port after the host (IPv6 hosts are in brackets), or the scheme's default."""
    after_host = netloc.rpartition("]")[2] if netloc.startswith("[") else netloc
    _, colon, text = after_host.partition(":")
    if not colon:
        return DEFAULT_PORTS[scheme]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(
            f"port {text!r} must be a number from 1 to 65535 (SMTP: 25 or 587, SMTPS: 465)"
        )
    return int(text)


def _options(query: str, scheme: str) -> dict[str, float | str]:
    """The ?options, each known, given once and within its bounds."""
    try:
        given = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as error:
        raise ValueError(f"options {query!r} are not name=value pairs joined by &") from error
    values: dict[str, float | str] = {}
    for name, found in given.items():
        option = OPTIONS.get(name)
        if option is None:
            close = difflib.get_close_matches(name, list(OPTIONS), n=1)
            suggestion = f"did you mean {close[0]}? " if close else ""
            raise ValueError(
                f"unknown option {name!r}: {suggestion}the options are " + ", ".join(OPTIONS)
            )
        if len(found) > 1:
            raise ValueError(f"option {name} is given {len(found)} times: give it once")
        if name == "starttls" and scheme == "smtps":
            raise ValueError(
                "starttls applies to smtp:// only: smtps:// is encrypted from the start"
            )
        try:
            values[name] = option.parse(found[0])
        except ValueError:
            raise ValueError(f"{name}={found[0]}: must be {option.allowed}") from None
    return values


def _file_path(scheme: str, rest: str) -> str:
    """The folder of eml: or the file of mbox:, as written (`eml://out` is `eml:out`)."""
    noun = "folder" if scheme == "eml" else "file"
    path = rest.removeprefix("//")
    example = "eml:outbox" if scheme == "eml" else "mbox:outbox.mbox"
    if not path.strip():
        raise ValueError(f"{scheme}: needs a {noun} after the colon, such as {example}")
    if "\0" in path or any(ord(char) < 32 for char in path):
        raise ValueError(f"the {noun} {path!r} holds control characters")
    if "?" in path or "#" in path:
        raise ValueError(f"{scheme}: takes a {noun} and no options, such as {example}")
    if scheme == "mbox" and (path.endswith("/") or PurePath(path).name in ("", ".", "..")):
        raise ValueError(f"mbox: needs a file name, not a folder, such as {example}")
    return path
