"""Paginator state machines, driven by in-memory fetch functions.

These are pure-logic tests of tasks/_pagination.py: the paginators take a ``fetch(params)``
callable and hold no HTTP code. The same paginators run against the real sandbox in
tests/test_processmaker.py. The in-memory keyset fake below exists because it can do what
no cooperative server does on demand: return rows with equal timestamps in shuffled order,
as ProcessMaker (one ``order_by`` column, no tie-breaker) may.
"""

from __future__ import annotations

import random
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from processmaker_prefect.api.pagination import KeysetCursor, KeysetPaginator, PageNumberPaginator
from processmaker_prefect.errors import MalformedResponseError
from processmaker_prefect.times import pmql_time

T0 = datetime(2025, 8, 14, 0, 50, 2, tzinfo=UTC)


def envelope(rows: list[dict[str, Any]], page: int, per_page: int, total: int) -> dict[str, Any]:
    last = max(1, -(-total // per_page))
    meta = {"current_page": page, "last_page": last, "per_page": per_page, "total": total}
    return {"data": rows, "meta": {**meta, "count": len(rows)}}


class PagedList:
    """Serves ``items`` by page number; records the pages asked for."""

    def __init__(self, total: int, delay: float = 0.0) -> None:
        self.items = [{"id": i} for i in range(1, total + 1)]
        self.asked: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.asked.append(params["page"])
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                # Later pages answer sooner, so out-of-order completion is the norm.
                time.sleep(self.delay / params["page"])
            page, per_page = params["page"], params["per_page"]
            rows = self.items[(page - 1) * per_page : page * per_page]
            return envelope(rows, page, per_page, len(self.items))
        finally:
            with self.lock:
                self.in_flight -= 1


def test_page_number_state_machine() -> None:
    paginator = PageNumberPaginator(10)
    assert paginator.has_next_page
    assert paginator.next_params() == {"page": 1, "per_page": 10}
    paginator.update_state(envelope([{"id": 1}], 1, 10, 25))
    assert (paginator.current_page, paginator.last_page) == (1, 3)
    assert paginator.next_params() == {"page": 2, "per_page": 10}
    paginator.update_state(envelope([{"id": 1}], 3, 10, 25))
    assert not paginator.has_next_page


def test_page_number_stops_on_an_empty_page_whatever_last_page_says() -> None:
    paginator = PageNumberPaginator(10)
    paginator.update_state(envelope([], 2, 10, 50))
    assert not paginator.has_next_page


def test_page_number_rejects_meta_without_last_page() -> None:
    paginator = PageNumberPaginator(10, where="GET /api/1.0/requests")
    with pytest.raises(
        MalformedResponseError, match=r"^GET /api/1.0/requests: meta.last_page is missing"
    ):
        paginator.update_state({"data": [], "meta": {"current_page": 1}})


def test_sequential_pages_cover_everything_in_order() -> None:
    source = PagedList(95)
    pages = list(PageNumberPaginator(10).pages(source, {"filter": "x"}))
    assert [row["id"] for page in pages for row in page] == list(range(1, 96))
    assert source.asked == list(range(1, 11))


def test_empty_list_is_one_empty_page() -> None:
    assert list(PageNumberPaginator(10).pages(PagedList(0))) == [[]]


def test_concurrent_pages_yield_in_order_with_bounded_concurrency() -> None:
    source = PagedList(200, delay=0.02)
    pages = list(PageNumberPaginator(10).pages(source, max_concurrency=4))
    assert [row["id"] for page in pages for row in page] == list(range(1, 201))
    assert sorted(source.asked) == list(range(1, 21))
    assert 1 < source.max_in_flight <= 4


def test_concurrent_pages_stop_fetching_when_the_consumer_stops() -> None:
    source = PagedList(1000)
    pages = PageNumberPaginator(10).pages(source, max_concurrency=3)
    assert [next(pages) for _ in range(2)][1][0] == {"id": 11}
    pages.close()
    # Page 1, page 2, and at most three more in flight or done: never all 100 pages.
    assert len(source.asked) <= 2 + 3


def test_concurrent_pages_raise_the_fetch_error() -> None:
    def failing(params: dict[str, Any]) -> dict[str, Any]:
        if params["page"] == 3:
            raise MalformedResponseError("page 3 broke")
        return PagedList(50)(params)

    with pytest.raises(MalformedResponseError, match=r"^page 3 broke$"):
        list(PageNumberPaginator(10).pages(failing, max_concurrency=2))


def test_pmql_time_is_utc_seconds() -> None:
    assert pmql_time(datetime(2025, 8, 14, 2, 50, 2, 999, tzinfo=UTC)) == "2025-08-14 02:50:02"
    assert pmql_time(datetime(2025, 8, 14, 2, 50, 2)) == "2025-08-14 02:50:02"  # naive: UTC
    local = datetime(2025, 8, 14, 4, 50, 2, tzinfo=ZoneInfo("Europe/Berlin"))
    assert pmql_time(local) == "2025-08-14 02:50:02"


def test_keyset_params_window_bound_and_extra_pmql() -> None:
    paginator = KeysetPaginator(
        50,
        cursor=KeysetCursor(T0, 42),
        until=T0 + timedelta(hours=1),
        pmql='status = "ACTIVE"',
    )
    assert paginator.next_params() == {
        "page": 1,
        "per_page": 50,
        "order_by": "updated_at",
        "order_direction": "asc",
        "pmql": '(modified > "2025-08-14 00:50:02" OR (modified = "2025-08-14 00:50:02" '
        'AND id > 42)) AND modified <= "2025-08-14 01:50:02" AND (status = "ACTIVE")',
    }


def test_keyset_first_run_has_no_lower_bound() -> None:
    params = KeysetPaginator(10).next_params()
    assert "pmql" not in params
    assert params["order_by"] == "updated_at"


def test_keyset_cursor_round_trips_through_json() -> None:
    cursor = KeysetCursor(T0, 7)
    assert cursor.as_dict() == {"modified": "2025-08-14T00:50:02+00:00", "id": 7}
    assert KeysetCursor.from_dict(cursor.as_dict()) == cursor
    assert KeysetCursor.from_dict({"modified": None}) == KeysetCursor()


_CLAUSE = re.compile(
    r'\(modified > "(?P<t>[^"]+)" OR \(modified = "(?P=t)" AND id > (?P<n>\d+)\)\)'
    r'|modified = "(?P<tie>[^"]+)" AND id > (?P<after>\d+)'
)


class MovingSet:
    """Rows with second-resolution timestamps, filtered by the keyset PMQL shapes.

    Equal timestamps come back in random order unless ``ties_by_id``; ``on_fetch`` may
    change rows between requests, as other users of ProcessMaker do.
    """

    def __init__(self, rows: int, *, ties_by_id: bool, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.ties_by_id = ties_by_id
        # Many rows share a second: ties are the norm, as with bulk updates.
        self.rows = {
            i: T0 + timedelta(seconds=self.rng.randrange(rows // 8)) for i in range(1, rows + 1)
        }
        self.clock = T0 + timedelta(seconds=rows)
        self.requests = 0
        self.on_fetch = lambda: None

    def touch(self, ident: int) -> None:
        self.clock += timedelta(seconds=1)
        self.rows[ident] = self.clock

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        self.on_fetch()
        match = _CLAUSE.search(params.get("pmql", ""))
        keys = [(t, i) for i, t in self.rows.items()]
        if match and match["t"]:
            t = datetime.fromisoformat(match["t"]).replace(tzinfo=UTC)
            keys = [(ts, i) for ts, i in keys if (ts, i) > (t, int(match["n"]))]
        elif match:
            t = datetime.fromisoformat(match["tie"]).replace(tzinfo=UTC)
            keys = [(ts, i) for ts, i in keys if ts == t and i > int(match["after"])]
        if params["order_by"] == "id":
            keys.sort(key=lambda k: k[1])
        elif self.ties_by_id:
            keys.sort()
        else:
            self.rng.shuffle(keys)
            keys.sort(key=lambda k: k[0])  # stable: ties stay shuffled
        chosen = keys[: params["per_page"]]
        rows = [{"id": i, "updated_at": ts.isoformat()} for ts, i in chosen]
        return envelope(rows, 1, params["per_page"], len(keys))


@pytest.mark.parametrize("ties_by_id", [True, False])
def test_keyset_reads_every_row_once_when_nothing_changes(ties_by_id: bool) -> None:
    data = MovingSet(500, ties_by_id=ties_by_id)
    paginator = KeysetPaginator(20, ties_sorted_by_id=ties_by_id)
    seen = [row["id"] for page in paginator.pages(data) for row in page]
    assert sorted(seen) == list(range(1, 501))
    assert len(seen) == 500
    last = max(data.rows.items(), key=lambda kv: (kv[1], kv[0]))
    assert paginator.cursor == KeysetCursor(last[1], last[0])


def test_keyset_with_shuffled_ties_loses_rows_if_told_ties_are_sorted() -> None:
    data = MovingSet(500, ties_by_id=False)
    paginator = KeysetPaginator(20, ties_sorted_by_id=True, where="GET /api/1.0/requests")
    with pytest.raises(MalformedResponseError, match="equal timestamps are not sorted by id"):
        list(paginator.pages(data))


@pytest.mark.parametrize("ties_by_id", [True, False])
def test_keyset_under_churn_misses_no_row(ties_by_id: bool) -> None:
    data = MovingSet(400, ties_by_id=ties_by_id)
    rng = random.Random(9)
    data.on_fetch = lambda: [data.touch(rng.randrange(1, 401)) for _ in range(3)]
    paginator = KeysetPaginator(25, ties_sorted_by_id=ties_by_id)
    seen = {row["id"] for page in paginator.pages(data) for row in page}
    assert seen == set(range(1, 401))


def test_keyset_resumes_from_cursor_and_reads_only_later_changes() -> None:
    data = MovingSet(100, ties_by_id=False)
    first = KeysetPaginator(30)
    list(first.pages(data))
    for ident in (5, 50, 95):
        data.touch(ident)
    second = KeysetPaginator(30, cursor=first.cursor)
    assert [row["id"] for page in second.pages(data) for row in page] == [5, 50, 95]


def test_keyset_detects_a_server_that_ignores_the_window() -> None:
    rows = [{"id": i, "updated_at": T0.isoformat()} for i in (1, 2)]
    paginator = KeysetPaginator(2, ties_sorted_by_id=True, where="GET /api/1.0/requests")
    pages = paginator.pages(lambda params: envelope(rows, 1, 2, 2))
    next(pages)
    with pytest.raises(MalformedResponseError, match=r"^GET /api/1.0/requests: keyset made no"):
        next(pages)


def test_keyset_rejects_rows_without_a_timestamp() -> None:
    paginator = KeysetPaginator(2, where="GET /api/1.0/tasks")
    with pytest.raises(MalformedResponseError, match="timestamp is not ISO-8601"):
        list(paginator.pages(lambda params: envelope([{"id": 1}], 1, 2, 1)))
