"""The web app's clicks: kept in memory on the request path, written to the database in batches.

    recorder = ClickRecorder(engine)   made with the app
    recorder.start()                   when the app starts: the writer thread
    recorder.record(click)             per request: an append to a list, never the database
    recorder.close()                   when the app stops: what is left written, then done

The writer thread writes what has come in every WRITE_EVERY seconds, or as soon as BATCH clicks
wait, in one transaction (store.write_clicks). A click costs the request an append under a lock;
a burst of thousands costs the database a few inserts. What a crash (not a stop) loses is at
most the last half second of clicks.

`ClientKeys` gives each click its client key: a keyed hash of the client's address and user
agent, under a random key that lives in this process's memory for one UTC day and is then
replaced (never stored, never logged). Within the day it tells one scanner's burst from many
readers' clicks; after it, nothing ties a click to an address, not even for us.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from newsletter.db import utcnow
from newsletter.engagement.store import Click, write_clicks
from newsletter.errors import NewsletterError

log = logging.getLogger(__name__)

WRITE_EVERY = 0.5
"""Seconds between the writer's batches."""
BATCH = 1000
"""Clicks waiting that wake the writer before its time."""
MOST_WAITING = 200_000
"""Clicks kept while the database cannot take them (some 60 MB); more are dropped, and said."""


class ClickRecorder:
    """The clicks of one web app, written in batches by a thread of their own."""

    def __init__(
        self,
        engine: Engine,
        *,
        write_every: float = WRITE_EVERY,
        batch: int = BATCH,
        most_waiting: int = MOST_WAITING,
    ) -> None:
        self.engine = engine
        self.write_every = write_every
        self.batch = batch
        self.most_waiting = most_waiting
        self._waiting: list[Click] = []
        self._lock = threading.Lock()  # Guards _waiting.
        self._writing = threading.Lock()  # One batch written at a time: flush() waits for it.
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        """Clicks dropped because too many waited (the database was unavailable for long)."""

    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
            self._thread.start()

    def record(self, click: Click) -> None:
        """Keep `click` for the next batch; never waits for the database."""
        with self._lock:
            if len(self._waiting) >= self.most_waiting:
                self.dropped += 1
                return
            self._waiting.append(click)
            full = len(self._waiting) >= self.batch
        if full:
            self._wake.set()

    def waiting(self) -> int:
        """How many clicks are not written yet."""
        with self._lock:
            return len(self._waiting)

    def flush(self) -> None:
        """Write every click recorded so far (and any batch being written) before returning."""
        with self._writing:
            with self._lock:
                clicks, self._waiting = self._waiting, []
            self._write(clicks)

    def close(self) -> None:
        """Stop the writer thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        if self.dropped:
            log.error("%d clicks were dropped: the database could not take them", self.dropped)
        left = self.waiting()
        if left:
            log.error("%d clicks could not be written: the database failed", left)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.write_every)
            self._wake.clear()
            if self._stop.is_set():
                return  # close() writes the rest.
            try:
                self.flush()
            except Exception:  # A bug must not end the thread: the clicks after it count.
                log.exception("writing clicks failed")

    def _write(self, clicks: list[Click]) -> bool:
        """Write `clicks`; False when the database failed (they wait for the next batch)."""
        if not clicks:
            return True
        try:
            write_clicks(self.engine, clicks)
        except IntegrityError:
            # A click of a link or delivery deleted since it was looked up (a forgotten
            # reader, a removed mailing): one such click must not hold back the others.
            if len(clicks) == 1:
                log.info("a click of a link or delivery that no longer exists: not counted")
                return True
            for index, click in enumerate(clicks):
                if not self._write([click]):
                    self._keep(clicks[index + 1 :])
                    return False
        except (SQLAlchemyError, NewsletterError) as error:
            log.error("writing %d clicks: %s; trying again", len(clicks), error)
            self._keep(clicks)
            return False
        return True

    def _keep(self, clicks: list[Click]) -> None:
        """Put `clicks` back to wait for the next batch, as many as there is room for."""
        with self._lock:
            room = max(self.most_waiting - len(self._waiting), 0)
            self.dropped += max(len(clicks) - room, 0)
            self._waiting[:0] = clicks[:room]


class ClientKeys:
    """The client key of a click: HMAC-SHA256 of its address and user agent under a random key
    of the UTC day, 16 hex characters."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self._day: date | None = None
        self._key = b""
        self._lock = threading.Lock()

    def key_of(self, address: str, user_agent: str) -> str:
        """The key of a client today; another tomorrow, with no way to tie the two."""
        message = f"{address}\n{user_agent}".encode()
        return hmac.digest(self._today(), message, "sha256")[:8].hex()

    def _today(self) -> bytes:
        today = self.clock().date()
        with self._lock:
            if today != self._day:
                # A new key each day, made here and kept nowhere else: yesterday's clicks
                # cannot be tied to today's, or to an address, once it is replaced.
                self._day, self._key = today, secrets.token_bytes(32)
            return self._key
