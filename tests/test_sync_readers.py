"""The ordered prefetch behind concurrent time slices: order kept, errors raised, bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tasks.sync.readers import ordered_prefetch as _ordered_prefetch


def slow_range(start: int, stop: int, delay: float) -> Iterator[int]:
    for value in range(start, stop):
        time.sleep(delay)
        yield value


def test_items_come_out_in_producer_order_whatever_their_speed() -> None:
    producers = [
        lambda: slow_range(0, 5, 0.02),
        lambda: slow_range(5, 10, 0.0),
        lambda: slow_range(10, 15, 0.01),
    ]
    assert list(_ordered_prefetch(producers, concurrency=3)) == list(range(15))


def test_a_producer_error_is_raised_in_the_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 failed")

    with pytest.raises(ValueError, match="page 2 failed"):
        list(_ordered_prefetch([lambda: iter([0]), broken], concurrency=2))


def test_producers_run_ahead_at_most_the_buffer_depth() -> None:
    produced: list[int] = []
    lock = threading.Lock()

    def counting(start: int) -> Iterator[int]:
        for value in range(start, start + 50):
            with lock:
                produced.append(value)
            yield value

    stream = _ordered_prefetch([lambda: counting(0), lambda: counting(100)], 2, depth=2)
    assert next(stream) == 0
    time.sleep(0.3)
    with lock:
        ahead = len(produced)
    # the first producer's buffer (2) + one item in hand + the item consumed, same again
    # for the second producer: far below the 100 items they could make.
    assert ahead <= 8
    stream.close()
