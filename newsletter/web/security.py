"""What keeps the public forms safe: CSRF tokens, a same-origin check, a per-IP rate limit."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

CSRF_MAX_AGE = 2 * 3600


@dataclass(frozen=True)
class Csrf:
    """Signed form tokens, scoped to one form: a page from another site cannot post ours."""

    secret: str

    def make(self, form: str) -> str:
        """The token to put in a hidden field of `form`."""
        return URLSafeTimedSerializer(self.secret, salt="newsletter.csrf").dumps(form)

    def valid(self, form: str, token: str) -> bool:
        """Whether `token` was made for `form` in the last two hours."""
        try:
            return bool(
                URLSafeTimedSerializer(self.secret, salt="newsletter.csrf").loads(
                    token, max_age=CSRF_MAX_AGE
                )
                == form
            )
        except BadSignature:
            return False


def same_origin(origin: str | None, referer: str | None, allowed_hosts: set[str]) -> bool:
    """Whether a form post comes from our own pages (browsers send Origin; some only Referer)."""
    header = origin if origin and origin != "null" else referer
    if not header:
        return True  # Non-browser clients send neither; the CSRF token still protects the form.
    return urlsplit(header).netloc in allowed_hosts


@dataclass
class RateLimiter:
    """At most `limit` attempts per `window` seconds for each client address (in this process)."""

    limit: int
    window: float
    clock: Callable[[], float]
    most_clients: int = 100_000
    """Clients remembered before those idle for a window are forgotten (memory stays bounded)."""
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _swept: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, client: str) -> bool:
        """Count an attempt by `client`; False when it is over the limit."""
        now = self.clock()
        with self._lock:
            attempts = self._seen.setdefault(client, deque())
            while attempts and attempts[0] <= now - self.window:
                attempts.popleft()
            if len(attempts) >= self.limit:
                return False
            attempts.append(now)
            if len(self._seen) > self.most_clients and now - self._swept >= self.window:
                # At most once a window, so that a crowd of active clients costs one pass
                # per window rather than one per request.
                self._swept = now
                for idle in [
                    key
                    for key, times in self._seen.items()
                    if not times or times[-1] <= now - self.window
                ]:
                    del self._seen[idle]
            return True

    def exhausted(self, client: str) -> bool:
        """Whether `client` is at the limit now, without counting an attempt (to count only
        failures: call this before trying, `allow` after each failure)."""
        now = self.clock()
        with self._lock:
            attempts = self._seen.get(client, ())
            return sum(1 for moment in attempts if moment > now - self.window) >= self.limit

    def clients(self) -> int:
        """How many client addresses are remembered."""
        with self._lock:
            return len(self._seen)
