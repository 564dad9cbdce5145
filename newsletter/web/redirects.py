"""Redirects that stay on the site: every Location the web apps send is a path of the app itself.

Starlette builds the redirect from a folder to its slash form (`/en` -> `/en/`) out of the
request's Host header, which the client chooses (`Host: evil.example` gives
`http://evil.example/en/`), and a path that starts with two slashes is a protocol-relative URL:
to a browser, `//evil.example/` and `/\\evil.example/` are another host. So the apps build their
own redirects with `local_path`, and `LocalRedirects` wraps each app to make every Location a
path on the way out, whoever made it: scheme and host dropped, runs of slashes merged,
backslashes percent-encoded.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urljoin, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Characters a path or query keeps as they are; everything else is percent-encoded (a backslash,
# which browsers read as a slash, spaces and control characters included). `%` stays, so what
# is already encoded is not encoded twice.
_PATH_SAFE = "/%!$&'()*+,;=:@~"
_QUERY_SAFE = _PATH_SAFE + "?"
_SLASHES = re.compile(r"/{2,}")


def local_path(path: str, query: str = "") -> str:
    """`path` and `query` as a Location on this site: one leading slash, never `//` or `/\\`."""
    location = _SLASHES.sub("/", "/" + quote(path, safe=_PATH_SAFE))
    return f"{location}?{quote(query, safe=_QUERY_SAFE)}" if query else location


def local_location(location: str, request_path: str) -> str:
    """`location` (as resolved from `request_path`) reduced to a path on this site."""
    parts = urlsplit(urljoin(request_path, location))
    return local_path(parts.path, parts.query)


class LocalRedirects:
    """ASGI middleware: the Location header of every response becomes a path on this site."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
