"""Request variables as columns, on a real DuckDB file and a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from processmaker_prefect.destinations import Destination, Watermark
from processmaker_prefect.destinations.variables import column_name, plan_columns, widen
from processmaker_prefect.errors import DestinationError
from tests.test_destinations import dest, fetch, url

__all__ = ["dest", "url"]  # the fixtures, shared with tests/test_destinations.py


def request(ident: int, process_id: int, **data: Any) -> dict[str, Any]:
    return {"id": ident, "process_id": process_id, "status": "ACTIVE",
            "updated_at": "2025-08-14T00:50:02+00:00", "data": data}  # fmt: skip


def columns(url: str, table: str) -> dict[str, str]:
    sql = f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table}'"  # noqa: E501, S608
    rows = fetch(url, sql)
    return {name: kind.lower() for name, kind in rows}


def test_each_process_gets_a_table_with_typed_columns(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [
        request(1, 5, amount=12, vendor="ACME", approved=True, rate=0.5, items=[1, 2],
                address={"city": "Oslo"}),
        request(2, 5, amount=3, vendor=None),
        request(3, 6, days=4),
    ], None)  # fmt: skip
    dest.close()
    got = fetch(url, "SELECT request_id, amount, vendor, approved, rate FROM request_variables_5 "
                     "ORDER BY request_id")  # fmt: skip
    assert got == [(1, 12, "ACME", True, 0.5), (2, 3, None, None, None)]
    assert fetch(url, "SELECT request_id, days FROM request_variables_6") == [(3, 4)]
    kinds = columns(url, "request_variables_5")
    assert kinds["amount"] == "bigint"
    assert kinds["approved"] == "boolean"
    assert kinds["rate"] in {"double", "double precision"}
    assert kinds["address"] in {"json", "jsonb"}
    (city,) = fetch(url, "SELECT address->>'city' FROM request_variables_5 WHERE request_id = 1")[0]
    assert city == "Oslo"


def test_new_key_adds_a_column_without_losing_rows(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, 5, amount=1), request(2, 5, amount=2)], None)
    dest.write_batch("requests", [request(3, 5, amount=3, priority="high")], None)
    dest.close()
    got = fetch(url, "SELECT request_id, amount, priority FROM request_variables_5 ORDER BY 1")
    assert got == [(1, 1, None), (2, 2, None), (3, 3, "high")]


def test_type_change_widens_the_column(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, 5, amount=1, code=7)], None)
    dest.write_batch("requests", [request(2, 5, amount=2.5)], None)
    dest.write_batch("requests", [request(3, 5, code="A-7")], None)
    dest.close()
    kinds = columns(url, "request_variables_5")
    assert kinds["amount"] in {"double", "double precision"}
    assert kinds["code"] in {"varchar", "text"}
    got = fetch(url, "SELECT request_id, amount, code FROM request_variables_5 ORDER BY 1")
    assert got == [(1, 1.0, "7"), (2, 2.5, None), (3, None, "A-7")]


def test_updated_request_replaces_its_variables(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, 5, amount=1, note="x")], None)
    dest.write_batch("requests", [request(1, 5, amount=2)], None)  # note removed from data
    dest.close()
    assert fetch(url, "SELECT amount, note FROM request_variables_5") == [(2, None)]


def test_full_refresh_rebuilds_variables_tables(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, 5, amount=1), request(2, 6, days=1)], None)
    with dest.full_refresh("requests"):
        dest.write_batch("requests", [request(3, 5, total=9)], None)
        assert dest.count("requests") == 2  # the live tables stay until the swap
    dest.close()
    assert fetch(url, "SELECT * FROM request_variables_5") == [
        (3, *fetch(url, "SELECT _synced_at FROM requests")[0], None, 9)
    ]
    tables = {r[0] for r in fetch(url, "SELECT table_name FROM information_schema.tables")}
    assert "request_variables_6" not in tables
    assert not any(t.startswith("_staging") for t in tables)


def test_odd_keys_become_safe_distinct_column_names() -> None:
    assert column_name("Invoice Number", []) == "invoice_number"
    assert column_name("Naïve Total", []) == "naive_total"
    assert column_name("1st", []) == "_1st"
    assert column_name('a"; DROP TABLE requests; --', []) == "a_drop_table_requests"
    # Reserved names and clashes take a suffix from the key's hash: the same key, the same name.
    assert column_name("request_id", []) == column_name("request_id", ["x"])
    assert column_name("request_id", []).startswith("request_id_")
    assert column_name("raw", []).startswith("raw_")
    assert column_name("ID", []) != column_name("Id", []) != column_name("id", [])
    clash = column_name("invoice-number", ["invoice_number"])
    assert clash.startswith("invoice_number_")
    assert len(clash) == len("invoice_number_") + 8
    # Nothing left of the key, or too long: a hash always.
    assert column_name("日本語", []).startswith("key_")
    assert column_name("💰", []) != column_name("", [])
    long_a, long_b = column_name("x" * 299 + "a", []), column_name("x" * 299 + "b", [])
    assert len(long_a) == len(long_b) == 63
    assert long_a != long_b
    assert all(len(column_name(k, []).encode()) <= 63 for k in ("é" * 100, "日" * 100))


@pytest.mark.parametrize(
    ("old", "new", "wider"),
    [("bigint", "double", "double"), ("boolean", "bigint", "text"), ("json", "text", "text"),
     ("bigint", None, "bigint"), (None, "json", "json")],
)  # fmt: skip
def test_widen(old: str | None, new: str | None, wider: str) -> None:
    assert widen(old, new) == wider


def test_plan_keeps_known_columns_and_widens_once() -> None:
    known = {"a": ("a", "bigint")}
    added, widened, _ = plan_columns(known, [{"a": 1.5, "b": None}, {"a": 2, "c": {"x": 1}}])
    assert widened == {"a": ("a", "double")}
    assert added == {"b": ("b", "text"), "c": ("c", "json")}


def test_plan_names_keys_in_first_seen_order_and_keeps_huge_ints_as_text() -> None:
    records = [{"Invoice Number": 1, "big": 2**70}, {"invoice_number": 2, "big": 3}]
    added, _, _ = plan_columns({}, records)
    assert added == {
        "Invoice Number": ("invoice_number", "bigint"),
        "big": ("big", "text"),
        "invoice_number": (column_name("invoice_number", ["invoice_number"]), "bigint"),
    }


def test_columns_of_a_rolled_back_batch_are_added_again(url: str, dest: Destination) -> None:
    """A batch whose transaction fails takes its new columns with it; the next batch with the
    same new key must add the column again, not trust what the failed one planned."""
    dest.write_batch("requests", [request(1, 5, amount=1)], None)
    # The watermark is written last in the transaction; an id beyond BIGINT fails it there.
    broken = Watermark("requests", datetime(2025, 8, 14, tzinfo=UTC), -(2**70))
    with pytest.raises(DestinationError):
        dest.write_batch("requests", [request(2, 5, amount=2, region="EU")], broken)
    dest.write_batch("requests", [request(3, 5, amount=3, region="US")], None)
    dest.close()
    assert "region" in columns(url, "request_variables_5")
    rows = fetch(url, "SELECT request_id, region FROM request_variables_5 ORDER BY request_id")
    assert [tuple(r) for r in rows] == [(1, None), (3, "US")]
