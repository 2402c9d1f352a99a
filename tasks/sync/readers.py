"""How a sync reads what changed: one small class per kind of list route.

Each yields ``(rows, watermark)`` pairs in an order where storing the rows and then the
watermark (``None``: keep the old one) in one transaction never skips a row, whatever
crashes or concurrent updates happen meanwhile. PMQL routes use
:class:`tasks.sync.window.WindowReader`; the two here serve routes without time filters.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.api.concurrent import ordered_map
from processmaker_prefect.api.pagination import meta_count
from processmaker_prefect.destinations import Watermark
from processmaker_prefect.sync.idranges import IdRangePlan
from processmaker_prefect.sync.scan import Rows, scan_ids
from processmaker_prefect.sync.window import WindowReader
from processmaker_prefect.times import parse_time

__all__ = ["IdScanReader", "Reader", "RecentFirstReader", "WindowReader"]


class Reader(Protocol):
    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]: ...


class _ListReader:
    """What both readers hold: the client, the table, the list route, page size, concurrency."""

    def __init__(
        self, client: ProcessMakerClient, table: str, path: str, params: dict[str, Any], *,
        per_page: int, max_concurrency: int = 1,
    ) -> None:  # fmt: skip
        self.client, self.table, self.path, self.params = client, table, path, params
        self.per_page = per_page
        self.max_concurrency = min(max_concurrency, client.pool_size)


class RecentFirstReader(_ListReader):
    """For routes without PMQL (users, groups, processes): newest first by ``updated_at``,
    page by page, until a page reaches the watermark's time.

    Only rows with ``watermark < updated_at <= until`` are taken: ``until`` lies a few
    seconds in the past, so every row of the watermark's second was already there last
    run, and one more recent is read next run. Read one after the other, offset pages may
    show a row twice but never skip one: updates move rows to the front. Pages 2..N are
    fetched concurrently, so a page may be served before the one ahead of it; the run then
    reads page 1 again, and if the list gained rows at the front or changed its total
    meanwhile (the only ways an older row moves between pages), it reads again one page
    after the other. The new watermark comes with the last page: a crash rereads.
    """

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        where = f"GET /api/1.0{self.path}"
        query = {**self.params, "order_by": "updated_at", "order_direction": "desc",
                 "per_page": self.per_page}  # fmt: skip

        def fetch(page: int) -> dict[str, Any]:
            return self.client.get_page(self.path, {**query, "page": page})

        first = fetch(1)
        last_page = meta_count(first, "last_page", where)
        scan = _Scan(start, until, where)
        yield from scan.take(first["data"])
        last = first
        if not scan.reached and last_page > 1:
            concurrent = self.max_concurrency > 1
            numbers = iter(range(2, last_page + 1))
            for envelope in ordered_map(fetch, numbers, self.max_concurrency):
                yield from scan.take(envelope["data"])
                last = envelope
                if scan.reached or not envelope["data"]:  # empty: last_page was too high
                    break
            if concurrent and not _same_front(first, fetch(1), until, self.per_page, where):
                scan = _Scan(start, until, where)
                for envelope in ordered_map(fetch, iter(range(1, 10**9)), 1):
                    yield from scan.take(envelope["data"])
                    last = envelope
                    if scan.reached or not envelope["data"]:
                        break
        # meta is counted apart from the pages: a full last page may not be the last.
        page = meta_count(last, "current_page", where) if "current_page" in last["meta"] else 0
        while page and not scan.reached and len(last["data"]) >= self.per_page:
            page += 1
            last = fetch(page)
            yield from scan.take(last["data"])
        yield from scan.finish(self.table)


def _same_front(
    before: dict[str, Any], after: dict[str, Any], until: datetime, per_page: int, where: str
) -> bool:
    """Whether no older row can have moved between pages: same total, same rows after
    ``until`` (updates and inserts land there), and fewer of those than a page."""

    def front(envelope: dict[str, Any]) -> int:
        stamps = (parse_time(row.get("updated_at"), where) for row in envelope["data"])
        return sum(1 for stamp in stamps if stamp > until)

    ahead = front(after)
    return (
        meta_count(before, "total", where) == meta_count(after, "total", where)
        and front(before) == ahead < per_page
    )


class _Scan:
    """The rows of newest-first pages that are new since ``start``, and the newest key."""

    def __init__(self, start: Watermark | None, until: datetime, where: str) -> None:
        self.start, self.until, self.where = start, until, where
        self.newest: tuple[datetime, int] | None = None
        self.reached = False

    def take(self, page: Rows) -> Iterator[tuple[Rows, Watermark | None]]:
        fresh: Rows = []
        for row in page:
            key = (parse_time(row.get("updated_at"), self.where), int(row["id"]))
            if self.start is not None and key[0] <= self.start.updated_at:
                self.reached = True
            elif key[0] <= self.until:
                fresh.append(row)
                self.newest = key if self.newest is None else max(self.newest, key)
        if fresh:
            yield fresh, None

    def finish(self, table: str) -> Iterator[tuple[Rows, Watermark | None]]:
        if self.newest is not None:
            yield [], Watermark(table, self.newest[0], self.newest[1])


class IdScanReader(_ListReader):
    """For routes whose rows carry no update time (collection records, API-NOTES §4): every
    run reads the whole list again by id ranges (:mod:`sync.idranges`) and upserts it.

    Keyset on id rather than page numbers, so a record deleted during the scan cannot shift
    another past a page boundary. The watermark (``until`` and the highest id) only records
    that a scan completed; it comes with the last page.
    """

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        plan = IdRangePlan(self.per_page, self.max_concurrency)
        highest = 0
        for rows in scan_ids(self.client, self.path, self.params, "", plan):
            if rows:
                highest = max(highest, int(rows[-1]["id"]))
            yield rows, (Watermark(self.table, until, highest) if plan.finished else None)
