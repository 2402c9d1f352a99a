"""Deletion marks and filtered watermarks, on a real DuckDB file and a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import psycopg

from processmaker_prefect.destinations import Destination, Watermark, open_destination
from tests.test_destinations import T0, dest, fetch, request, url

__all__ = ["dest", "url"]  # the fixtures, shared with tests/test_destinations.py


def later() -> datetime:
    """A listing that began after the rows were written (the suite runs long: not at import)."""
    return datetime.now(UTC) + timedelta(minutes=1)


def test_rows_no_longer_listed_are_marked_not_dropped(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, data={"a": 1}), request(2), request(3)], None)
    assert dest.mark_deleted("requests", {1, 3}, later()) == 1
    assert dest.mark_deleted("requests", {1, 3}, later()) == 0  # marked once
    assert dest.stored_ids("requests") == {1, 3}
    assert dest.count("requests") == 3
    dest.close()
    marks = fetch(url, "SELECT id, _deleted_at IS NOT NULL FROM requests ORDER BY id")
    assert marks == [(1, False), (2, True), (3, False)]


def test_a_row_listed_or_synced_again_is_unmarked(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1), request(2)], None)
    dest.mark_deleted("requests", set(), later())
    assert dest.stored_ids("requests") == set()
    dest.mark_deleted("requests", {1}, later())  # restored in ProcessMaker
    dest.write_batch("requests", [request(2, "COMPLETED")], None)  # and synced again
    assert dest.stored_ids("requests") == {1, 2}


def test_rows_written_after_the_listing_began_are_left_alone(dest: Destination) -> None:
    dest.write_batch("requests", [request(1)], None)
    assert dest.mark_deleted("requests", set(), datetime(2020, 1, 1, tzinfo=UTC)) == 0
    assert dest.stored_ids("requests") == {1}


def test_a_deleted_request_marks_its_variables(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, data={"a": 1}), request(2, data={"a": 2})], None)
    dest.mark_deleted("requests", {2}, later())
    dest.close()
    marks = fetch(url, "SELECT request_id, _deleted_at IS NOT NULL FROM request_variables_3 "
                       "ORDER BY 1")  # fmt: skip
    assert marks == [(1, True), (2, False)]


def test_marking_a_table_never_written_does_nothing(dest: Destination) -> None:
    assert dest.mark_deleted("tasks", {1}, later()) == 0


def test_filtered_syncs_keep_separate_watermarks(url: str, dest: Destination) -> None:
    five = Watermark("requests", T0, 5)
    six = Watermark("requests", T0 + timedelta(hours=1), 6)
    dest.write_batch("requests", [request(5)], five, "process_id = 5")
    dest.write_batch("requests", [request(6)], six, "process_id  =  6")
    assert dest.get_watermark("requests", "process_id = 5") == five
    assert dest.get_watermark("requests", "process_id = 6") == six  # whitespace does not count
    assert dest.get_watermark("requests") is None
    dest.close()
    keys = {r[0] for r in fetch(url, "SELECT resource FROM _sync_state")}
    assert keys == {"requests where process_id = 5", "requests where process_id = 6"}


def test_a_table_from_before_deletions_were_tracked_gains_the_column(
    url: str, dest: Destination
) -> None:
    dest.write_batch("requests", [request(1), request(2)], None)
    dest.close()
    if url.startswith("duckdb"):
        with duckdb.connect(url.removeprefix("duckdb:///")) as con:
            con.execute("ALTER TABLE requests DROP COLUMN _deleted_at")
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("ALTER TABLE requests DROP COLUMN _deleted_at")
    with open_destination(url) as reopened:
        assert reopened.stored_ids("requests") == {1, 2}
        assert reopened.mark_deleted("requests", {1}, later()) == 1
