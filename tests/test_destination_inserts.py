"""A batch of new rows is inserted, one holding stored ids upserted: the same table either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processmaker_prefect.destinations import Destination
from tests.test_destinations import dest, fetch, request, url

__all__ = ["dest", "url"]  # the fixtures, shared with tests/test_destinations.py


def test_a_batch_mixing_stored_and_new_ids_updates_and_inserts(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, data={"a": 1}), request(2, data={"a": 2})], None)
    dest.mark_deleted("requests", {1}, datetime.now(UTC) + timedelta(minutes=1))  # 2 is gone
    mixed = [request(3, data={"a": 3}), request(2, "COMPLETED", data={"a": 20}), request(4)]
    assert dest.write_batch("requests", mixed, None) == 3
    dest.close()
    rows = fetch(url, "SELECT id, status, _deleted_at IS NULL FROM requests ORDER BY id")
    assert rows == [(1, "ACTIVE", True), (2, "COMPLETED", True), (3, "ACTIVE", True),
                    (4, "ACTIVE", True)]  # fmt: skip
    variables = fetch(url, 'SELECT request_id, "a" FROM request_variables_3 ORDER BY 1')
    assert variables == [(1, 1), (2, 20), (3, 3)]  # 4 has no data: no variables row


def test_a_batch_of_only_new_ids_after_stored_ones_adds_them(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1), request(2)], None)
    assert dest.write_batch("requests", [request(5), request(3, "ERROR")], None) == 2
    assert dest.write_batch("requests", [request(5, "COMPLETED")], None) == 1
    dest.close()
    rows = fetch(url, "SELECT id, status FROM requests ORDER BY id")
    assert rows == [(1, "ACTIVE"), (2, "ACTIVE"), (3, "ERROR"), (5, "COMPLETED")]
