"""How a sync reads what changed: one small class per kind of list route.

Both yield ``(rows, watermark)`` pairs in an order where storing the rows and then the
watermark (``None``: keep the old one) in one transaction never skips a row, whatever
crashes or concurrent updates happen meanwhile.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from tasks.api import ProcessMakerClient
from tasks.api.pagination import KeysetCursor, KeysetPaginator
from tasks.destinations import Watermark
from tasks.errors import MalformedResponseError
from tasks.times import parse_time

__all__ = ["IdScanReader", "KeysetReader", "Reader", "RecentFirstReader"]

Rows = list[dict[str, Any]]
# A cursor id above every real id: "everything at this timestamp is done".
_END = 2**62
T = TypeVar("T")
# Items a slice may read ahead: bounds memory at max_concurrency x this many pages.
_SLICE_DEPTH = 8


class Reader(Protocol):
    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]: ...


class _ListReader:
    """What every reader holds: the client, the table, the list route and its page size."""

    def __init__(
        self, client: ProcessMakerClient, table: str, path: str, params: dict[str, Any], *,
        per_page: int,
    ) -> None:  # fmt: skip
        self.client, self.table, self.path, self.params = client, table, path, params
        self.per_page = per_page


class KeysetReader(_ListReader):
    """For routes with PMQL (requests, tasks, collection records): a keyset window on
    ``(updated_at, id)`` after the watermark and up to ``until``, oldest first; each page
    carries the exact watermark that covers it.

    With ``max_concurrency > 1`` and more than two pages of changes, the window is cut into
    time slices fetched concurrently and yielded strictly in order.
    """

    def __init__(
        self,
        client: ProcessMakerClient,
        table: str,
        path: str,
        params: dict[str, Any],
        pmql_field: str,
        *,
        per_page: int,
        max_concurrency: int = 1,
    ) -> None:
        super().__init__(client, table, path, params, per_page=per_page)
        self.pmql_field = pmql_field
        self.max_concurrency = max_concurrency

    def _paginator(self, cursor: KeysetCursor, until: datetime) -> KeysetPaginator:
        return KeysetPaginator(
            self.per_page,
            cursor=cursor,
            until=until,
            pmql=self.params.get("pmql"),  # a filtered sync's PMQL, AND-ed with the window
            pmql_field=self.pmql_field,
            where=f"GET /api/1.0{self.path}",
        )

    def _mark(self, cursor: KeysetCursor) -> Watermark:
        assert cursor.modified is not None  # noqa: S101 - set by every page read
        return Watermark(self.table, cursor.modified, cursor.id)

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        cursor = KeysetCursor(start.updated_at, start.last_id) if start else KeysetCursor()
        probe = self._paginator(cursor, until)
        first = self.client.get_page(self.path, {**self.params, **probe.next_params()})
        if not first["data"]:
            return
        total = int(first["meta"].get("total") or 0)
        if self.max_concurrency > 1 and total > 2 * self.per_page:
            lowest = parse_time(first["data"][0].get("updated_at"), probe.where)
            yield from self._sliced(cursor, lowest, until, total)
            return
        # Sequential: the probe is the paginator's first page, not fetched twice.
        pending = [first]

        def fetch(query: dict[str, Any]) -> dict[str, Any]:
            return pending.pop() if pending else self.client.get_page(self.path, query)

        for page in probe.pages(fetch, self.params):
            yield page, self._mark(probe.cursor)

    def _window(
        self, cursor: KeysetCursor, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        paginator = self._paginator(cursor, until)
        for page in self.client.list_changed(self.path, paginator, self.params):
            yield page, self._mark(paginator.cursor)

    def _sliced(
        self, cursor: KeysetCursor, lowest: datetime, until: datetime, total: int
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        # About four pages a slice, so that a slice (its pages plus their tie re-reads) fits
        # its prefetch buffer and a worker is not parked on a full queue.
        pages = math.ceil(total / self.per_page)
        count = min(pages, max(4 * self.max_concurrency, math.ceil(pages / 4)))
        step = max((until - lowest) / count, timedelta(seconds=1))
        bounds = [(lowest - timedelta(seconds=1) + step * i).replace(microsecond=0) for i in
                  range(1, count)]  # fmt: skip
        bounds = [*sorted({b for b in bounds if b < until}), until]
        slices: list[tuple[KeysetCursor, datetime]] = []
        for upper in bounds:
            slices.append((cursor, upper))
            cursor = KeysetCursor(upper, _END)
        producers = [lambda c=c, u=u: self._window(c, u) for c, u in slices]
        yield from ordered_prefetch(producers, self.max_concurrency, depth=_SLICE_DEPTH)


class RecentFirstReader(_ListReader):
    """For routes without PMQL (users, groups, processes): newest first by ``updated_at``,
    page by page, until a page reaches the watermark's time.

    Only rows with ``watermark < updated_at <= until`` are taken: ``until`` lies a few
    seconds in the past, so every row of the watermark's second was already there last
    run, and one more recent is read next run. Updates during the scan move rows to the
    front, so offset paging may show a row twice but never skips one. The new watermark
    comes with the last page only: a crash midway rereads from the old one.
    """

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        where = f"GET /api/1.0{self.path}"
        params = {**self.params, "order_by": "updated_at", "order_direction": "desc"}
        newest: tuple[datetime, int] | None = None
        pending: Rows | None = None
        for page in self.client.list_pages(self.path, params, per_page=self.per_page):
            fresh: Rows = []
            reached = False
            for row in page:
                key = (parse_time(row.get("updated_at"), where), int(row["id"]))
                if start is not None and key[0] <= start.updated_at:
                    reached = True
                elif key[0] <= until:
                    fresh.append(row)
                    newest = key if newest is None else max(newest, key)
            if pending:
                yield pending, None
            pending = fresh
            if reached:
                break
        if newest is not None:
            yield pending or [], Watermark(self.table, newest[0], newest[1])


class IdScanReader(_ListReader):
    """For routes whose rows carry no update time (collection records, API-NOTES §4): every
    run reads the whole list again, by id (``id > N``, ascending), and upserts it.

    Keyset on id rather than page numbers, so a record deleted during the scan cannot shift
    another past a page boundary. The watermark (``until`` and the highest id) only records
    that a scan completed; it comes with the last page.
    """

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        last = 0
        while True:
            extra = f" AND ({self.params['pmql']})" if "pmql" in self.params else ""  # filtered
            pmql = f"id > {last}{extra}"
            query = {**self.params, "pmql": pmql, "order_by": "id",
                     "order_direction": "asc", "page": 1, "per_page": self.per_page}  # fmt: skip
            rows = self.client.get_page(self.path, query)["data"]
            ids = [row.get("id") for row in rows]
            if (
                not all(isinstance(i, int) for i in ids)
                or ids != sorted(set(ids))
                or (ids and ids[0] <= last)
            ):
                raise MalformedResponseError(
                    f"GET /api/1.0{self.path}: rows are not ids above {last} in order; "
                    "check that the server filters by PMQL id"
                )
            final = len(rows) < self.per_page
            if rows:
                last = int(rows[-1]["id"])
            yield rows, (Watermark(self.table, until, last) if final else None)
            if final:
                return


def ordered_prefetch(
    producers: Sequence[Callable[[], Iterator[T]]], concurrency: int, depth: int = 2
) -> Iterator[T]:
    """Run each producer in a thread (``concurrency`` at a time, each buffering ``depth``
    items) and yield all items of producer 0, then 1, ... Memory stays bounded."""
    done = object()
    stop = threading.Event()

    def put(out: queue.Queue[Any], item: Any) -> bool:
        # Never block for good: once the consumer is gone nobody drains a full queue, and
        # the pool's shutdown would wait on this thread forever.
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump(make: Callable[[], Iterator[T]], out: queue.Queue[Any]) -> None:
        if stop.is_set():
            return
        try:
            for item in make():
                if not put(out, item):
                    return
            put(out, done)
        except BaseException as exc:  # handed to the consumer, raised there
            put(out, exc)

    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in producers]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pm-slice") as pool:
        try:
            for index, make in enumerate(producers):
                pool.submit(pump, make, queues[index])
            for out in queues:
                while (item := out.get()) is not done:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
        finally:
            stop.set()
