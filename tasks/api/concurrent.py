"""The one ordered concurrent fetcher: ``concurrency`` calls in flight, results in input order.

Page-number paging (:class:`tasks.api.pagination.PageNumberPaginator`) and the page-number
sync reader both fetch through :func:`ordered_map`; the id-range plan of the sync schedules
its own requests because it decides each one from the answers before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

__all__ = ["ordered_map"]

A = TypeVar("A")
R = TypeVar("R")


def ordered_map(fn: Callable[[A], R], items: Iterator[A], concurrency: int) -> Iterator[R]:
    """Yield ``fn(item)`` for each item in order, with up to ``concurrency`` calls in flight.

    ``items`` is polled whenever a slot is free, so an iterator object may run dry and
    fill again (pages whose count grows as answers arrive); a generator simply ends. At most
    ``concurrency`` results are held. When the consumer stops early, calls not yet started
    are cancelled and the running ones finish before the generator closes; the first
    error of ``fn`` is raised in the consumer, in order.
    """
    if concurrency <= 1:
        for item in items:
            yield fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pm-fetch")
    pending: deque[Future[R]] = deque()
    try:
        while True:
            while len(pending) < concurrency:
                try:
                    item = next(items)
                except StopIteration:
                    break
                # The caller's context (e.g. the Prefect run its log lines belong to) goes along.
                pending.append(pool.submit(copy_context().run, fn, item))
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
