"""The page-number paginator's state machine, driven by in-memory fetch functions.

These are pure-logic tests of processmaker_prefect.api.pagination: the paginator takes a
``fetch(params)`` callable and holds no HTTP code. It runs against the real sandbox in
tests/test_api_client.py.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from processmaker_prefect.api.pagination import PageNumberPaginator
from processmaker_prefect.errors import MalformedResponseError
from processmaker_prefect.times import pmql_time


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
