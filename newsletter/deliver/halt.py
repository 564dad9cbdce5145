"""The stop flag a sending process shares with its delivery worker processes.

multiprocessing's Event is a lock and a condition in shared memory. A worker killed (`kill -9`,
the out-of-memory killer) while it holds the lock, or while it waits on the condition, leaves
them taken for good: every other worker that reads the flag blocks, and so does the parent that
sets it when it stops. A pipe has nothing to leave taken: the parent writes one byte to halt,
nobody reads it, and the pipe stays readable for every worker, those started later included.
"""

from __future__ import annotations

import select
from multiprocessing.context import BaseContext


class Halt:
    """Set once by the parent; read and waited on by any number of worker processes.

    It goes to a worker as a Process argument (spawn) or by inheritance (fork). A worker reads
    it before each message: one poll(2) of the pipe, about a microsecond, where the poll of a
    multiprocessing Connection builds a selector each time (9 µs).
    """

    def __init__(self, context: BaseContext) -> None:
        self._reader, self._writer = context.Pipe(duplex=False)
        self._set = False
        self._pollers: dict[int | None, select.poll] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"_reader": self._reader, "_writer": None, "_set": False, "_pollers": {}}

    def set(self) -> None:
        """Halt every worker (the parent only; more than once is harmless)."""
        if not self._set and self._writer is not None:
            self._set = True
            self._writer.send_bytes(b"halt")

    def is_set(self) -> bool:
        return self.wait(0.0)

    def wait(self, seconds: float, also: int | None = None) -> bool:
        """Sleep until halted, `seconds` have passed, or the file descriptor `also` (if any) is
        readable; whether halted. Under spawn, a parent that is gone reads as halted too (it
        alone held the other end); forked workers share that end, so they watch their
        parent's pid instead (Worker._stopping)."""
        if not self._set:
            poller = self._pollers.get(also)
            if poller is None:
                poller = self._pollers[also] = select.poll()
                poller.register(self._reader.fileno(), select.POLLIN)
                if also is not None:
                    poller.register(also, select.POLLIN)
            ready = poller.poll(seconds * 1000)
            self._set = any(fd == self._reader.fileno() for fd, _ in ready)
        return self._set
