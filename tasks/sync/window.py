"""The read plan of PMQL routes (requests, tasks): one fixed time window, read by id ranges.

A run reads the window ``W = (watermark, until]`` of ``updated_at`` (``until`` a few seconds in
the past). Inside it, rows are read by id, concurrently (:mod:`sync.idranges`). Why that
is exact, whatever the ties on ``updated_at``:

* ``W`` can only lose rows while it is read. A row updated or inserted now gets an
  ``updated_at`` after ``until``, so it leaves ``W`` (or never enters it) and the next window,
  which starts at ``until``, reads it.
* ``id`` is unique and never changes, and each id range is read by keyset (``id > last``),
  so a row that stays in ``W`` is read once its range is, and a row that leaves cannot
  shift another past a page boundary.
* Every page is stored with the window and the id intervals read so far, in one destination
  transaction. A killed run resumes the same window and reads only the intervals missing;
  once the window is read, the watermark moves to ``until``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.destinations import Watermark
from processmaker_prefect.sync.idranges import TOP, IdRangePlan
from processmaker_prefect.sync.scan import Rows, scan_ids
from processmaker_prefect.times import parse_time, pmql_time

__all__ = ["WindowReader", "covers"]

_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)  # lower bound of a first sync's window


class WindowReader:
    """For routes with PMQL: the rows changed after the watermark and up to ``until``.

    Args:
        client: The ProcessMaker client.
        table: The resource's table (names the watermark).
        path: The list route.
        params: Fixed query parameters.
        pmql_field: PMQL name of the update time (``modified``).
        per_page: Rows per request.
        max_concurrency: Requests in flight.
    """

    def __init__(
        self, client: ProcessMakerClient, table: str, path: str, params: dict[str, Any],
        pmql_field: str, *, per_page: int, max_concurrency: int = 1,
    ) -> None:  # fmt: skip
        self.client, self.table, self.path, self.params = client, table, path, params
        self.pmql_field, self.per_page = pmql_field, per_page
        self.max_concurrency = min(max_concurrency, client.pool_size)

    def pages(
        self, start: Watermark | None, until: datetime
    ) -> Iterator[tuple[Rows, Watermark | None]]:
        """Yield ``(rows, watermark)``: the watermark covers these rows and every one before."""
        open_window = start.extra.get("window") if start is not None else None
        if start is not None and isinstance(open_window, Mapping):
            # A run stopped inside its window: finish that window first, with its bounds.
            lower = (start.updated_at, start.last_id)
            upper = parse_time(open_window.get("until"), "watermark")
            yield from self._window(lower, upper, open_window.get("done") or [], fresh=False)
            if upper >= until:
                return
            start = Watermark(self.table, upper, TOP)
        since = (start.updated_at, start.last_id) if start is not None else None
        yield from self._window(since, until, [], fresh=True)

    def _window(
        self, lower: tuple[datetime, int] | None, upper: datetime, done: list[Any], *,
        fresh: bool,
    ) -> Iterator[tuple[Rows, Watermark | None]]:  # fmt: skip
        f = self.pmql_field
        parts = []
        if lower is not None:
            t = pmql_time(lower[0])
            after = f'{f} > "{t}"'
            tie = f'{f} = "{t}" AND id > {lower[1]}'
            parts.append(after if lower[1] >= TOP else f"({after} OR ({tie}))")
        parts.append(f'{f} <= "{pmql_time(upper)}"')
        plan = IdRangePlan(self.per_page, self.max_concurrency, done=[tuple(d) for d in done])
        base = lower or (_ORIGIN, 0)
        read = False
        for rows in scan_ids(self.client, self.path, self.params, " AND ".join(parts), plan):
            read = read or bool(rows)
            if plan.finished:
                if not read and fresh:
                    return  # nothing changed: no write, the watermark stays
                yield rows, Watermark(self.table, upper, TOP)
            else:
                state = {"window": {"until": upper.isoformat(), "done": plan.done}}
                yield rows, Watermark(self.table, base[0], base[1], state)


def covers(mark: Watermark, updated_at: datetime, ident: int) -> bool:
    """Whether a row with this ``updated_at`` and id is stored once ``mark`` is committed."""
    if (updated_at, ident) <= (mark.updated_at, mark.last_id):
        return True
    window = mark.extra.get("window")
    if not isinstance(window, Mapping) or updated_at > parse_time(window["until"], "watermark"):
        return False
    return any(lo < ident <= hi for lo, hi in window.get("done") or [])
