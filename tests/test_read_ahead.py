"""The import's read-ahead: items in order, errors in their place, and a thread that stops."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from contextlib import closing

import pytest

from newsletter.subscribers.read_ahead import DEPTH, read_ahead


def readers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "read-ahead"]


@pytest.mark.parametrize(("count", "size"), [(0, 5), (1, 5), (5, 5), (10_007, 100), (3, 1)])
def test_every_item_comes_once_in_order(count: int, size: int) -> None:
    assert list(read_ahead(range(count), size)) == list(range(count))
    assert readers() == []


def test_an_error_comes_after_the_items_before_it_with_its_own_traceback() -> None:
    def rows() -> Iterator[int]:
        yield from range(250)
        raise ValueError("line 252: not a row")

    seen: list[int] = []
    with pytest.raises(ValueError, match="line 252") as raised:
        for item in read_ahead(rows(), 100):
            seen.append(item)

    assert seen == list(range(250))
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "rows" in frames  # Where it was raised, in the other thread.
    assert readers() == []


def test_closing_early_stops_the_thread_before_it_reads_much_further() -> None:
    read = 0

    def endless() -> Iterator[int]:
        nonlocal read
        while True:
            read += 1
            yield read

    with closing(read_ahead(endless(), 10)) as items:
        first = [next(items) for _ in range(15)]
    after_close = read

    assert first == list(range(1, 16))
    assert readers() == []  # Closing waited for the thread.
    # The lists handed over, the one in the queue's way, and the one being filled.
    assert after_close <= 10 * (DEPTH + 3)
    assert read == after_close  # Nothing is read once it is closed.
