"""Python's cyclic garbage collector, set for bulk reads while a sync runs.

A page of 500 requests parses into some 20,000 dicts and lists, and a sync holds a few dozen
such pages at once (in flight, queued, being written). None of them can form a cycle (JSON
cannot), so the collector's passes over them free nothing; with its default thresholds
(700, 10, 10) it still walks the young ones every 700 allocations and every live object in a
full pass up to every ~70,000, several times per page. Measured on a 100,000-request sync
(bench/bench_speed.py, ``gc_thresholds``, every run): with the thresholds below the engine
takes 0.77-0.81x the time, as the reader and the writer share the GIL the collector holds.

While any sync runs, the thresholds are raised to :data:`SYNC_THRESHOLDS`: a young
collection every 100,000 allocations (a few pages), the middle generation every 50 of those,
and a full pass rarely. Cycles made meanwhile (by Prefect, requests, exceptions) are still
collected, most of them young; the memory benchmark (1,000,000 records vs 100,000) runs with
this setting. The previous
thresholds are restored when the last sync running in the process ends, so syncs side by
side in threads share one setting, and nothing else in the process keeps it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SYNC_THRESHOLDS", "bulk_collection"]

SYNC_THRESHOLDS = (100_000, 50, 100)

_lock = threading.Lock()
_running = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def bulk_collection() -> Iterator[None]:
    """Raise the collector's thresholds while the block runs (see the module)."""
    global _running, _saved
    with _lock:
        if _running == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*SYNC_THRESHOLDS)
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
