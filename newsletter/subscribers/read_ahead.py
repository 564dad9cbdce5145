"""Rows read and checked by a thread of their own while the import writes the rows before them.

An import alternates two kinds of work: checking rows (Python: the address, the locale, the
time zone) and writing a batch of them, which on PostgreSQL is mostly its server's work, in
another process, while this one waits without the GIL. Done in turn, one core idles in each;
with the next batch checked while the last one is written, the two overlap
(docs/benchmarks.md).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

DEPTH = 2
"""Lists of items ready ahead of the consumer: enough to never wait for the thread, and a bound
on the memory the thread may fill while the consumer writes."""


def read_ahead(items: Iterable[T], size: int) -> Generator[T, None, None]:
    """The items of `items`, in order, taken from it by another thread `size` at a time.

    An exception `items` raises is raised here, after the items before it, with its own
    traceback. Close the iterator when done with it early (`contextlib.closing`): the thread
    then stops at its next list, and closing waits for it, so that nothing reads `items` (a
    file, say) after the caller has closed what it reads.
    """
    ready: queue.Queue[tuple[list[T], BaseException | None, bool]] = queue.Queue(DEPTH)
    stop = threading.Event()

    def hand(chunk: list[T], error: BaseException | None = None, end: bool = False) -> bool:
        """Put a list in the queue unless the consumer stopped meanwhile; whether it was put."""
        while not stop.is_set():
            try:
                ready.put((chunk, error, end), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        chunk: list[T] = []
        try:
            for item in items:
                chunk.append(item)
                if len(chunk) >= size:
                    if not hand(chunk):
                        return
                    chunk = []
        except BaseException as error:  # Raised again in the consumer's thread, in its place.
            hand(chunk, error)
            return
        hand(chunk, end=True)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            chunk, error, end = ready.get()
            yield from chunk
            if error is not None:
                raise error
            if end:
                return
    finally:
        stop.set()
        thread.join()
