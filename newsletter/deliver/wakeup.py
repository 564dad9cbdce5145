"""Waking idle delivery workers as soon as deliveries are queued, on every host.

An idle worker of `newsletter run` looks for due deliveries every second (service/pool.py), so
a send used to start up to a second after its audience was queued. Now whatever queues
deliveries announces them, and an idle worker waits on a doorbell besides its stop flag:

    announce(connection)   in the transaction that queues (or gives back) deliveries
    doorbell(engine)       in each worker process: wait(halt, seconds) returns when it rings

On PostgreSQL the announcement is a NOTIFY, which the server delivers when (and only if) the
transaction commits, to a connection of its own that each worker process keeps LISTENing, on
every host (one connection more per worker process). On SQLite, which has no such thing and
serves one host, the announcement sets the modification time of a file beside the database
(`news.db-deliveries`) once the transaction has committed, and an idle worker looks at that
file every SLICE seconds. Either way the timed poll stays, for deliveries that become due
later (retries, local-time sends), and as the fallback while PostgreSQL cannot be listened
to (tried again every RECONNECT seconds; TCP keepalives notice a server gone silent).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine, event

from newsletter.deliver.halt import Halt

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)
CHANNEL = "newsletter_deliveries"
SLICE = 0.1
"""Seconds between two looks at the SQLite doorbell file while waiting."""
RECONNECT = 10.0
"""Seconds between two attempts to LISTEN again after the connection was lost."""
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 60, "keepalives_interval": 10}
"""A LISTENing connection only reads: without keepalives, a server gone silent (a network cut,
a failover) would go unnoticed for hours. The database URL's own settings win."""
_PENDING = "newsletter.deliveries_announced"
_COMMITTED = "newsletter.deliveries_committed"
SUFFIX = "-deliveries"
"""The SQLite doorbell's name: the database's, with this after it."""
_REGISTERING = threading.Lock()


def announce(connection: Connection) -> None:
    """Tell every idle worker that deliveries may be due, once this transaction commits (and
    not if it rolls back). Call it inside the transaction that queues them."""
    if connection.dialect.name == "postgresql":
        # Several in one transaction reach each listener as one.
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")
        return
    bell = bell_file(connection.engine)
    if bell is None:
        return
    # Marked now, kept by the commit (dropped by a rollback), rung when the connection goes
    # back to the pool: after the commit, so that a worker it wakes sees the deliveries.
    connection.info[_PENDING] = bell
    engine = connection.engine
    with _REGISTERING:
        if not event.contains(engine, "checkin", _ring_if_committed):
            event.listen(engine, "commit", _committed)
            event.listen(engine, "rollback", _rolled_back)
            event.listen(engine, "checkin", _ring_if_committed)


def bell_file(engine: Engine) -> Path | None:
    """The SQLite doorbell: a file beside the database (its real path); None for PostgreSQL
    and for a database that is no file of its own (in memory, a URI)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{Path(database).resolve()}{SUFFIX}")


def _committed(connection: Connection) -> None:
    if (bell := connection.info.pop(_PENDING, None)) is not None:
        connection.info[_COMMITTED] = bell


def _rolled_back(connection: Connection) -> None:
    connection.info.pop(_PENDING, None)


def _ring_if_committed(_dbapi_connection: Any, record: Any) -> None:
    record.info.pop(_PENDING, None)
    bell: Path | None = record.info.pop(_COMMITTED, None)
    if bell is not None:
        ring(bell)


def ring(bell: Path) -> None:
    """Set the doorbell file's time: to the nanosecond where this process owns it (whatever
    the file system's clock ticks), else to now (any user who may write it may do that). The
    process that makes it gives it the database's mode, and its owner when root, as SQLite's
    own files beside it have."""
    now = time.time_ns()
    try:
        try:
            os.close(os.open(bell, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        else:
            database = Path(str(bell).removesuffix(SUFFIX)).stat()
            bell.chmod(database.st_mode & 0o666)  # Whatever this process's umask.
            if os.geteuid() == 0:
                os.chown(bell, database.st_uid, database.st_gid)
        try:
            os.utime(bell, ns=(now, now))
        except PermissionError:  # Another user's: writable, but only its owner sets times.
            os.utime(bell)
    except OSError as error:  # The workers still find the deliveries at their poll.
        log.warning("cannot ring the delivery workers' doorbell %s: %s", bell, error)


class Doorbell(Protocol):
    """What an idle worker process waits on besides its stop flag (see the module)."""

    def wait(self, halt: Halt, seconds: float) -> bool:
        """Sleep until halted (True), the doorbell rang, or `seconds` have passed (False).

        A ring since the last wait returned (during the worker's look, say) ends it at once:
        no announcement is missed."""
        ...

    def close(self) -> None:
        """Let go of what it holds (PostgreSQL's connection); it can still be waited on."""
        ...


def doorbell(engine: Engine) -> Doorbell:
    """The doorbell of the database of `engine`, for one worker process."""
    if engine.dialect.name == "postgresql":
        return ListeningDoorbell(engine)
    return FileDoorbell(bell_file(engine))


class FileDoorbell:
    """SQLite's: the doorbell file looked at every SLICE seconds (no file: the timed poll)."""

    def __init__(self, bell: Path | None) -> None:
        self.bell = bell
        self._seen = self._rung_at()

    def wait(self, halt: Halt, seconds: float) -> bool:
        if self.bell is None:
            return halt.wait(seconds)
        deadline = time.monotonic() + seconds
        while (rung := self._rung_at()) == self._seen:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if halt.wait(min(left, SLICE)):
                return True
        self._seen = rung
        return False

    def close(self) -> None:
        pass

    def _rung_at(self) -> int | None:
        """The last ring (the file's modification time); None before the first."""
        try:
            return None if self.bell is None else self.bell.stat().st_mtime_ns
        except OSError:
            return None


class ListeningDoorbell:
    """PostgreSQL's: a connection of its own LISTENing, opened again when it is lost."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._listening: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._lost = False
        # Listening from the start: what is queued after this is heard, what was queued
        # before is found by the worker's first look for due deliveries.
        self._listen()

    def wait(self, halt: Halt, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        was_listening = self._listening is not None
        listening = self._listen()
        if listening is not None and not was_listening:
            # Listening again: what was queued while it was not is only found by a look.
            return halt.is_set()
        while (left := deadline - time.monotonic()) > 0:
            if listening is None:
                return halt.wait(left)
            if _drained(listening):  # Read already, with other traffic: the socket is quiet.
                return halt.is_set()
            if halt.wait(left, also=listening.fileno()):
                return True
            if self._rang(listening):
                return False
            listening = self._listening  # None if the connection was lost meanwhile.
        return False

    def close(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None

    def _listen(self) -> psycopg.Connection[Any] | None:
        """The LISTENing connection, opened if need be; None while it cannot be."""
        if self._listening is not None or time.monotonic() < self._retry_at:
            return self._listening
        import psycopg

        args, settings = self.engine.dialect.create_connect_args(self.engine.url)
        try:
            connection = psycopg.connect(*args, **{**KEEPALIVES, **settings}, autocommit=True)
        except psycopg.Error as error:
            self._unheard("cannot listen for new deliveries", error)
            return None
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as error:  # A hot standby, a pooler in transaction mode.
            connection.close()
            self._unheard("cannot listen for new deliveries", error)
            return None
        if self._lost:
            log.info("listening for new deliveries again")
            self._lost = False
        self._listening = connection
        return connection

    def _rang(self, listening: psycopg.Connection[Any]) -> bool:
        """Whether notifications came (all read now); False for other traffic, and when the
        connection was lost (closed: the next wait opens another)."""
        import psycopg
        from psycopg import pq

        connection = listening.pgconn
        try:
            connection.consume_input()
            if connection.status != pq.ConnStatus.OK:
                raise ConnectionError("the connection is broken")
        except (OSError, psycopg.Error) as error:  # The server went away or cut it.
            self.close()
            self._unheard("stopped listening for new deliveries", error)
            return False
        return _drained(listening)

    def _unheard(self, what: str, error: Exception) -> None:
        """Polling until RECONNECT seconds have passed; said once per outage."""
        self._retry_at = time.monotonic() + RECONNECT
        if not self._lost:
            log.warning("%s (sends start at the next poll meanwhile): %s", what, error)
            self._lost = True


def _drained(listening: psycopg.Connection[Any]) -> bool:
    """Whether notifications had come in (all taken now) with what the connection has read."""
    rang = False
    while listening.pgconn.notifies() is not None:
        rang = True
    return rang
