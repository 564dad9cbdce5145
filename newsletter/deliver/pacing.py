"""One rate limit for the whole installation: `rate=` messages a second across every worker.

Every worker of every process and host that shares the database takes its sending slots from
one row (send_pace): a reservation moves the row's `next_at` on by as many slots as it takes,
in one UPDATE ... RETURNING, so two workers never get the same slot and the slots handed out
never come faster than the rate. A worker then sends one message at each of its slots, and
reserves the next ones when half of them are used.

A reservation takes a tenth of a second's worth of slots (at least one, at most BLOCK_MOST):
a few small writes a second in all, whatever the number of workers. A worker that stops with
slots left gives them back when nobody has reserved after it (else they are lost), so the
rate is a ceiling, never exceeded, and reached while every worker has messages to send.

The time is the database's on PostgreSQL (hosts whose clocks differ still share one
timeline; each worker converts its slots to its own monotonic clock); SQLite is on one host,
whose clock it uses.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import Engine, case, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from newsletter.db import through_outage
from newsletter.deliver.models import SEND_PACE
from newsletter.errors import DatabaseGone

BLOCK_SECONDS = 0.1
"""The share of a second of slots one reservation takes."""
BLOCK_MOST = 50
LIMIT = "transport"
"""The one limit there is: the transport's, from `rate=` in transport_url."""


class SharedRate:
    """A worker's share of the installation's rate: `wait()` before each message."""

    def __init__(
        self,
        engine: Engine,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"a rate must be positive, not {rate}")
        self.engine, self.interval = engine, 1.0 / rate
        self.block = max(1, min(BLOCK_MOST, math.floor(rate * BLOCK_SECONDS)))
        self.sleep, self.monotonic = sleep, monotonic
        self.slots: deque[float] = deque()
        """This worker's slots reserved and not used yet, on its monotonic clock."""
        self.reserved_until = 0.0
        """Where this worker's last reservation left the limit's row (`next_at`)."""
        _ensure_row(engine)

    def wait(self, stop: Callable[[], bool] | None = None) -> None:
        """Return at this worker's next slot. The next block is reserved when half of this one
        is left, not when it is used up: a reservation held up (a busy database, a process
        that waits for a core) delays no message, and the slots handed out stay ahead of the
        clock while workers send. A database away is waited for, unless `stop()`."""
        if len(self.slots) <= self.block // 2:
            self.slots.extend(through_outage(self._reserve, "reserving sending slots", stop))
        delay = self.slots.popleft() - self.monotonic()
        if delay > 0:
            self.sleep(delay)

    def give_back(self) -> None:
        """Return the unused slots of the last reservation when no worker has reserved after
        it: a worker that stops (nothing left to send) leaves no gap in the rate. Unused slots
        of an earlier reservation, with others' after them, are lost."""
        unused = min(len(self.slots), self.block)
        self.slots.clear()
        if not unused:
            return
        statement = (
            update(SEND_PACE)
            .where(SEND_PACE.c.name == LIMIT, SEND_PACE.c.next_at == self.reserved_until)
            .values(next_at=SEND_PACE.c.next_at - unused * self.interval)
        )
        # Best effort, as the worker stops: with the database away, the rate has a gap.
        with contextlib.suppress(DatabaseGone), self.engine.begin() as connection:
            connection.execute(statement)

    def _reserve(self) -> list[float]:
        """The next `block` free slots, on this worker's monotonic clock."""
        span = self.block * self.interval
        now = _now(self.engine)
        statement = (
            update(SEND_PACE)
            .where(SEND_PACE.c.name == LIMIT)
            .values(
                next_at=case((SEND_PACE.c.next_at > now, SEND_PACE.c.next_at), else_=now) + span
            )
            .returning(SEND_PACE.c.next_at, now)
        )
        with self.engine.begin() as connection:
            ends, then = connection.execute(statement).one()
        self.reserved_until = ends
        if self.engine.dialect.name == "sqlite":
            then = time.time()  # The same clock, read now: the wait for the lock left out.
        # The slots start `ends - span`, seen from the clock that said `then`.
        first = self.monotonic() + (ends - span - then)
        return [first + n * self.interval for n in range(self.block)]


def _now(engine: Engine) -> ColumnElement[float]:
    """The time in seconds since the epoch: the server's on PostgreSQL, this host's on SQLite."""
    if engine.dialect.name == "postgresql":
        return func.extract("epoch", func.clock_timestamp()).cast(SEND_PACE.c.next_at.type)
    return literal(time.time(), SEND_PACE.c.next_at.type)


def _ensure_row(engine: Engine) -> None:
    """The limit's row, made by the first worker that needs it (the others find it made; one
    that loses the race to make it finds it made too)."""
    with engine.connect() as connection:
        found = connection.execute(select(SEND_PACE.c.name).where(SEND_PACE.c.name == LIMIT))
        if found.first() is not None:
            return
    try:
        with engine.begin() as connection:
            connection.execute(insert(SEND_PACE).values(name=LIMIT, next_at=0.0))
    except IntegrityError:
        pass  # Made meanwhile by another worker.
