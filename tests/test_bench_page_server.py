"""The benchmark's page server answers like the sandbox for what the sync and the loops ask."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bench._page_server import PageData


@pytest.fixture(scope="module")
def data() -> PageData:
    return PageData(records=1_200, rendered=1_000)


def page(data: PageData, **query: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(data.page({k: str(v) for k, v in query.items()}, "u"))
    return body


def test_pages_by_number_cover_every_id_once_in_order(data: PageData) -> None:
    ids = [r["id"] for n in (1, 2, 3) for r in page(data, page=n, per_page=500)["data"]]
    assert ids == list(range(1, 1_201))
    meta = page(data, page=3, per_page=500)["meta"]
    assert (meta["total"], meta["last_page"], meta["count"], meta["from"]) == (1_200, 3, 200, 1_001)


def test_pmql_id_ranges_are_honoured_with_an_exact_total(data: PageData) -> None:
    window = '(modified <= "2030-01-01 00:00:00") AND (paid <= 3)'
    pmql = f"{window} AND ((id > 5 AND id <= 7) OR (id > 990 AND id <= 1010))"
    body = page(data, pmql=pmql, per_page=10, page=1)
    assert [r["id"] for r in body["data"]] == [6, 7, 991, 992, 993, 994, 995, 996, 997, 998]
    assert body["meta"]["total"] == 22
    assert [r["id"] for r in page(data, pmql="id > 1190", per_page=50)["data"]] == list(
        range(1_191, 1_201)
    )


def test_records_are_the_sandboxs_realistic_requests(data: PageData) -> None:
    first = page(data, per_page=1)["data"][0]
    assert {"uuid", "case_number", "case_title", "process_version_id", "initiated_at"} <= set(first)
    assert isinstance(first["data"]["line_items"], list)
    assert data.size > 1_000
    clone = page(data, pmql="id > 1100", per_page=1)["data"][0]  # past the rendered ones
    assert (clone["id"], clone["case_number"]) == (1_101, 1_101)
