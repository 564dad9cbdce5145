"""Request bodies under /api/ are refused beyond a size (413), before they are read whole."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.web.errors import problem


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a body under `prefix` larger than `limit` bytes gets 413, whether its
    Content-Length says so or its chunks add up to it."""

    def __init__(self, app: ASGIApp, prefix: str, limit: int) -> None:
        self.app, self.prefix, self.limit = app, prefix, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = problem(
            413,
            f"the request body is over {self.limit:,} bytes",
            "send fewer subscribers per request (an import takes up to 10,000)",
        )
        await answer(scope, receive, send)
