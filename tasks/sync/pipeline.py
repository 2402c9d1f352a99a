"""Read ahead in a thread while the caller writes: fetching never waits for the destination.

The reader's pages go through a bounded queue, so memory stays at ``depth`` pages whatever
the table's size; the writer takes whatever has queued up as one batch, so a slow
destination writes fewer, larger transactions instead of holding the reader back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextvars import copy_context
from functools import partial
from typing import Generic, TypeVar

__all__ = ["ReadAhead"]

T = TypeVar("T")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate ``source`` in a background thread; :meth:`batches` hands its items over.

    Use as a context manager: leaving it (normally or on an error) stops the thread and
    closes ``source`` in it.
    """

    def __init__(self, source: Iterator[T], depth: int) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        # In the creator's context, so what the reads log stays with its Prefect run.
        pump = partial(copy_context().run, self._pump)
        self._thread = threading.Thread(target=pump, name="pm-read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _put(self, item: object) -> bool:
        # Never block for good: once the consumer is gone nobody drains a full queue.
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failed(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def batches(self, most: int) -> Iterator[list[T]]:
        """Lists of up to ``most`` items: one waited for, then what is already queued.

        Raises:
            BaseException: whatever ``source`` raised, after the items before it.
        """
        while True:
            item = self._queue.get()
            batch: list[T] = []
            while True:
                if item is _END or isinstance(item, _Failed):
                    if batch:
                        yield batch
                    if isinstance(item, _Failed):
                        raise item.error
                    return
                batch.append(item)  # type: ignore[arg-type]
                if len(batch) >= most:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            yield batch
