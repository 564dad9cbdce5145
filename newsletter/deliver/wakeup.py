"""Waking idle delivery workers as soon as deliveries are queued, on every host.

An idle worker of `newsletter run` looks for due deliveries every second (service/pool.py), so
a send used to start up to a second after its audience was queued. Now whatever queues
deliveries announces them, and an idle worker waits on a doorbell besides its stop flag:

    announce(connection)   in the transaction that queues (or resumes) deliveries
    Doorbell(engine)       in each worker process: wait(halt, seconds) returns when it rings

On PostgreSQL the announcement is a NOTIFY, which the server delivers when (and only if) the
transaction commits, to a connection each worker process keeps LISTENing, on every host. On
SQLite, which has no such thing and serves one host, the doorbell watches the database file
and its write-ahead log: any commit by any process changes them, and a worker then looks
for due deliveries (a cheap query). Either way the timed poll stays, for deliveries that
become due later (retries, local-time sends), and as the fallback when the listening
connection is lost (it is opened again, at most every RECONNECT seconds).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from newsletter.deliver.halt import Halt

log = logging.getLogger(__name__)
CHANNEL = "newsletter_deliveries"
SLICE = 0.05
"""Seconds between two looks at the SQLite files while waiting."""
RECONNECT = 10.0
"""Seconds between two attempts to LISTEN again after the connection was lost."""


def announce(connection: Connection) -> None:
    """Tell every idle worker, once this transaction commits, that deliveries may be due."""
    if connection.dialect.name == "postgresql":
        # Several in one transaction reach each listener as one.
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


class Doorbell:
    """What an idle worker process waits on besides its stop flag (see the module)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._files: list[Path] = []
        self._listening: Any = None  # psycopg's Connection, LISTENing (PostgreSQL).
        self._retry_at = 0.0
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._files = [Path(database), Path(f"{database}-wal")]
        else:
            # Listening from the start: what is queued after this is heard, what was queued
            # before is found by the worker's first look for due deliveries.
            self._listen()

    def wait(self, halt: Halt, seconds: float) -> bool:
        """Sleep until halted (True), the doorbell rang, or `seconds` have passed (False)."""
        deadline = time.monotonic() + seconds
        if self.engine.dialect.name != "sqlite":
            return self._wait_for_notice(halt, deadline)
        if not self._files:
            return halt.wait(seconds)
        before = self._state()
        while (left := deadline - time.monotonic()) > 0:
            if halt.wait(min(left, SLICE)):
                return True
            if self._state() != before:
                return False
        return False

    def close(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None

    def _state(self) -> list[tuple[int, int, int] | None]:
        """What a commit changes: each file's modification time, size and inode."""
        state: list[tuple[int, int, int] | None] = []
        for path in self._files:
            try:
                found = path.stat()
            except OSError:
                state.append(None)  # No log yet, or checkpointed and removed.
            else:
                state.append((found.st_mtime_ns, found.st_size, found.st_ino))
        return state

    def _wait_for_notice(self, halt: Halt, deadline: float) -> bool:
        listening = self._listen()
        while (left := deadline - time.monotonic()) > 0:
            if listening is None:
                return halt.wait(left)
            if halt.wait(left, also=listening.fileno()):
                return True
            if self._rang(listening):
                return False
            listening = self._listening  # None if the connection was lost meanwhile.
        return False

    def _listen(self) -> Any:
        """The LISTENing connection, opened if need be; None while it cannot be."""
        if self._listening is None and time.monotonic() >= self._retry_at:
            try:
                import psycopg

                # A connection of its own, outside the engine's pool, for the worker's life.
                args, settings = self.engine.dialect.create_connect_args(self.engine.url)
                connection = psycopg.connect(*args, **settings, autocommit=True)
                connection.execute(f"LISTEN {CHANNEL}")
                self._listening = connection
            except Exception as error:  # The server unreachable: the timed poll goes on.
                log.debug("cannot listen for new deliveries: %s", error)
                self._retry_at = time.monotonic() + RECONNECT
        return self._listening

    def _rang(self, listening: Any) -> bool:
        """Whether notifications came (all read now); False for other traffic, and when the
        connection was lost (closed: the next wait opens another)."""
        from psycopg import pq

        connection = listening.pgconn
        try:
            connection.consume_input()
            if connection.status != pq.ConnStatus.OK:
                raise ConnectionError("the connection is broken")
        except Exception as error:  # The server went away or closed the connection.
            log.debug("stopped listening for new deliveries: %s", error)
            self.close()
            self._retry_at = time.monotonic() + RECONNECT
            return False
        rang = False
        while connection.notifies() is not None:
            rang = True
        return rang
