"""The stop flag a sending process shares with its delivery worker processes.

multiprocessing's Event is a lock and a condition in shared memory. A worker killed (`kill -9`,
the out-of-memory killer) while it holds the lock, or while it waits on the condition, leaves
them taken for good: every other worker that reads the flag blocks, and so does the parent that
sets it when it stops. A pipe has nothing to leave taken: the parent writes one byte to halt,
nobody reads it, and the pipe stays readable for every worker, those started later included.
"""

from __future__ import annotations

from multiprocessing.context import BaseContext


class Halt:
    """Set once by the parent; read and waited on by any number of worker processes.

    It goes to a worker as a Process argument (spawn) or by inheritance (fork).
    """

    def __init__(self, context: BaseContext) -> None:
        self._reader, self._writer = context.Pipe(duplex=False)
        self._set = False

    def __getstate__(self) -> dict[str, object]:
        return {"_reader": self._reader, "_writer": None, "_set": False}

    def set(self) -> None:
        """Halt every worker (the parent only; more than once is harmless)."""
        if not self._set and self._writer is not None:
            self._set = True
            self._writer.send_bytes(b"halt")

    def is_set(self) -> bool:
        return self._set or self._reader.poll()

    def wait(self, seconds: float) -> bool:
        """Sleep until halted or `seconds` have passed; whether halted."""
        return self._set or self._reader.poll(seconds)
