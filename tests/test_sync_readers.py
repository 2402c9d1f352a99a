"""The one ordered concurrent fetcher (tasks.api.concurrent) and the engine's read-ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from processmaker_prefect.api.concurrent import ordered_map
from processmaker_prefect.sync.pipeline import ReadAhead


def test_results_come_out_in_input_order_whatever_their_speed() -> None:
    def slow(value: int) -> int:
        time.sleep(0.002 * (value % 5))
        return value

    assert list(ordered_map(slow, iter(range(40)), 4)) == list(range(40))


def test_calls_in_flight_never_exceed_the_concurrency() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def call(value: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return value

    assert list(ordered_map(call, iter(range(30)), 3)) == list(range(30))
    assert 1 < peak[0] <= 3


def test_an_error_is_raised_in_the_consumer_after_the_results_before_it() -> None:
    def call(value: int) -> int:
        if value == 3:
            raise ValueError("page 3 failed")
        return value

    seen: list[int] = []
    with pytest.raises(ValueError, match="page 3 failed"):
        seen.extend(ordered_map(call, iter(range(10)), 2))
    assert seen == [0, 1, 2]


def test_a_consumer_leaving_early_cancels_what_has_not_started() -> None:
    started: list[int] = []

    def call(value: int) -> int:
        started.append(value)
        return value

    stream = ordered_map(call, iter(range(1000)), 3)
    assert next(stream) == 0
    stream.close()
    assert len(started) <= 1 + 3


def test_read_ahead_batches_what_has_queued_and_stays_bounded() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for value in range(100):
            produced.append(value)
            yield value

    with ReadAhead(source(), depth=4) as ahead:
        batches = ahead.batches(3)
        first = next(batches)
        time.sleep(0.2)
        # queue (4) + one item waiting to be put + the batch handed over
        assert len(produced) <= 4 + 1 + len(first) + 1
        rest = [item for batch in batches for item in batch]
    assert first + rest == list(range(100))
    assert all(len(batch) <= 3 for batch in [first])


def test_read_ahead_raises_the_source_error_after_its_items() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise RuntimeError("reader broke")

    got: list[int] = []

    def drain() -> None:
        with ReadAhead(source(), 2) as ahead:
            for batch in ahead.batches(5):
                got.extend(batch)

    with pytest.raises(RuntimeError, match="reader broke"):
        drain()
    assert got == [1]


def test_leaving_read_ahead_early_stops_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10**6)
        finally:
            closed.set()

    with ReadAhead(source(), 2) as ahead:
        next(ahead.batches(1))
    assert closed.wait(5)
