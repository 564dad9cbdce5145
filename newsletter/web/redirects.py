"""Redirects that stay on the site: every Location the web apps send is a path of the app itself.

Starlette builds the redirect from a folder to its slash form (`/en` -> `/en/`) out of the
request's Host header, which the client chooses (`Host: evil.example` gives
`http://evil.example/en/`), and a path that starts with two slashes is a protocol-relative URL:
to a browser, `//evil.example/` and `/\\evil.example/` are another host. So the apps build their
own redirects with `local_path`, and `LocalRedirects` wraps each app to make every Location a
path on the way out, whoever made it: scheme and host dropped, runs of slashes merged,
backslashes percent-encoded.

One exception, made by path and only for it: the tracking links of sent issues (`/l/...`,
`/o/...`) redirect to the links the issue had, on other sites. `LocalRedirects(app,
external=PATTERN)` leaves the Location of a request whose whole path matches PATTERN as the app
made it; the click routes make theirs with `external_location`, from the URL stored when the
issue was sent (never from the request), as a header can carry it: the host in IDNA, everything
else a header or URL cannot hold percent-encoded.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urljoin, urlsplit

import idna
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.characters import has_control

# Characters a path or query keeps as they are; everything else is percent-encoded (a backslash,
# which browsers read as a slash, spaces and control characters included). `%` stays, so what
# is already encoded is not encoded twice.
_PATH_SAFE = "/%!$&'()*+,;=:@~"
_QUERY_SAFE = _PATH_SAFE + "?"
_SLASHES = re.compile(r"/{2,}")
# An absolute http(s) URL: scheme, authority (up to the first /, ?, # or backslash, which
# browsers read as a slash in these schemes), the rest.
_ABSOLUTE = re.compile(r"(?i)(https?)://([^/?#\\]+)(.*)", re.DOTALL)
_AUTHORITY = re.compile(r"(?:(.*)@)?(\[[0-9A-Fa-f:.]+\]|[^@\[\]:]*)(?::([0-9]{0,5}))?", re.DOTALL)
_HOST = re.compile(r"[A-Za-z0-9._-]+")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What an external URL keeps as it is, on top of letters, digits and `_.-~`: the delimiters of
# RFC 3986, and `%` (what is encoded already stays so). The rest of ASCII (space, double quote,
# angle brackets, backslash, caret, backtick, braces, bar) and every character beyond ASCII are
# percent-encoded as UTF-8.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]"


def local_path(path: str, query: str = "") -> str:
    """`path` and `query` as a Location on this site: one leading slash, never `//` or `/\\`."""
    location = _SLASHES.sub("/", "/" + quote(path, safe=_PATH_SAFE))
    return f"{location}?{quote(query, safe=_QUERY_SAFE)}" if query else location


def local_location(location: str, request_path: str) -> str:
    """`location` (as resolved from `request_path`) reduced to a path on this site."""
    parts = urlsplit(urljoin(request_path, location))
    return local_path(parts.path, parts.query)


def external_location(url: str) -> str | None:
    """`url` (an absolute http(s) URL) as a Location header holds it: the host in IDNA (its
    A-labels), non-ASCII characters, spaces and what RFC 3986 does not allow percent-encoded,
    `%XX` kept; a URL that needs none of it unchanged. None for another scheme, no host, a
    port that is no number, or a control character anywhere."""
    url = url.strip(" ")
    found = None if has_control(url) else _ABSOLUTE.fullmatch(url)
    if found is None:
        return None
    scheme, authority, rest = found.groups()
    authority = _ascii_authority(authority)
    if authority is None:
        return None
    cut = min((at for at in (rest.find("?"), rest.find("#")) if at >= 0), default=len(rest))
    rest = rest[:cut].replace("\\", "/") + rest[cut:]  # A browser's reading of the path.
    return f"{scheme}://{authority}{quote(_LONE_PERCENT.sub('%25', rest), safe=_URL_SAFE)}"


def _ascii_authority(authority: str) -> str | None:
    parts = _AUTHORITY.fullmatch(authority)
    if parts is None:
        return None
    user, host, port = parts.groups()
    if not host.startswith("["):  # An IPv6 address is ASCII already.
        host = _ascii_host(unquote(host))
        if host is None:
            return None
    user = "" if user is None else quote(_LONE_PERCENT.sub("%25", user), safe=_URL_SAFE) + "@"
    return f"{user}{host}{':' + port if port else ''}"


def _ascii_host(host: str) -> str | None:
    """A host name as its ASCII form: a plain host as written, an internationalized one in
    IDNA 2008 (UTS 46, as browsers map it), else 2003 (which browsers still accept); None for
    anything that is no host name."""
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
    return host if _HOST.fullmatch(host) else None


class LocalRedirects:
    """ASGI middleware: the Location header of every response becomes a path on this site, but
    for requests whose whole path matches `external` (the click routes: see the module)."""

    def __init__(self, app: ASGIApp, external: re.Pattern[str] | None = None) -> None:
        self.app = app
        self.external = external

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.external is not None and self.external.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return

        async def send_local(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, _local(value, scope["path"]) if name.lower() == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_local)


def _local(value: bytes, request_path: str) -> bytes:
    return local_location(value.decode("latin-1"), request_path).encode("latin-1")
