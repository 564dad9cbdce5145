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
        self._poller: select.poll | None = None

    def __getstate__(self) -> dict[str, object]:
        return {"_reader": self._reader, "_writer": None, "_set": False, "_poller": None}

    def set(self) -> None:
        """Halt every worker (the parent only; more than once is harmless)."""
        if not self._set and self._writer is not None:
            self._set = True
            self._writer.send_bytes(b"halt")

    def is_set(self) -> bool:
        return self.wait(0.0)

    def wait(self, seconds: float) -> bool:
        """Sleep until halted or `seconds` have passed; whether halted. Under spawn, a parent
        that is gone reads as halted too (it alone held the other end); forked workers share
        that end, so they watch their parent's pid instead (Worker._stopping)."""
        if not self._set:
            if self._poller is None:
                self._poller = select.poll()
                self._poller.register(self._reader.fileno(), select.POLLIN)
            self._set = bool(self._poller.poll(seconds * 1000))
        return self._set
