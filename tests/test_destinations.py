"""Destinations on a real DuckDB file and a real PostgreSQL server (tests/fixtures/postgres.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from processmaker_prefect import destination_lock_name
from processmaker_prefect.destinations import (
    Destination,
    Watermark,
    check_destination_url,
    open_destination,
)
from processmaker_prefect.errors import ConfigurationError, DestinationError

T0 = datetime(2025, 8, 14, 0, 50, 2, tzinfo=UTC)
WM1 = Watermark("requests", T0, 2)
WM2 = Watermark("requests", datetime(2025, 8, 15, tzinfo=UTC), 9, {"note": "second"})


def request(ident: Any, status: str = "ACTIVE", **extra: Any) -> dict[str, Any]:
    """A request as ProcessMaker's list route returns it (subset of API-NOTES §6)."""
    return {
        "id": ident,
        "uuid": f"uuid-{ident}",
        "process_id": 3,
        "user_id": 1,
        "status": status,
        "name": "Leave request",
        "case_number": ident,
        "case_title": f"Case #{ident}",
        "created_at": "2025-08-14T00:50:02+00:00",
        "updated_at": "2025-08-14T00:50:02+00:00",
        "initiated_at": "2025-08-14T00:50:02+00:00",
        "completed_at": None,
        **extra,
    }


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty destination: a DuckDB file, or a new database on the session server."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'pm.duckdb'}"
    base: str = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"{base.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def dest(url: str) -> Iterator[Destination]:
    with open_destination(url) as opened:
        yield opened


def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Query the destination with its own driver, outside the code under test."""
    if url.startswith("duckdb"):
        con = duckdb.connect(url.removeprefix("duckdb:///"))
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql).fetchall()
        finally:
            con.close()
    with psycopg.connect(url) as pg:
        return pg.execute(sql).fetchall()


def test_upsert_never_duplicates(url: str, dest: Destination) -> None:
    rows = [request(1), request(2), request(1, "COMPLETED")]
    assert dest.write_batch("requests", rows, WM1) == 2
    dest.write_batch("requests", [request(2), request(3)], None)
    dest.close()
    assert fetch(url, "SELECT id, status FROM requests ORDER BY id") == [
        (1, "COMPLETED"),  # the last row of an id within a batch wins
        (2, "ACTIVE"),
        (3, "ACTIVE"),
    ]


def test_updated_rows_replace_old_values(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1, case_title="old")], None)
    dest.write_batch("requests", [request(1, "COMPLETED", case_title="new")], None)
    dest.close()
    ((status, title, raw),) = fetch(url, "SELECT status, case_title, raw::text FROM requests")
    assert (status, title, json.loads(raw)["case_title"]) == ("COMPLETED", "new", "new")


def test_watermark_is_committed_with_rows(url: str, dest: Destination) -> None:
    assert dest.get_watermark("requests") is None
    dest.write_batch("requests", [request(1), request(2)], WM1)
    dest.write_batch("requests", [], WM2)  # a page of nothing still moves the watermark
    dest.close()
    with open_destination(url) as reopened:
        assert reopened.get_watermark("requests") == WM2
        assert reopened.get_watermark("requests").extra == {"note": "second"}  # type: ignore[union-attr]
        assert reopened.count("requests") == 2


def test_row_without_integer_id_is_rejected_the_rest_stored(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1)], WM1)
    assert dest.write_batch("requests", [request(2), request("abc"), request("12")], WM2) == 2
    assert dest.count("requests") == 3  # "12" is an id written as a string: stored as 12
    assert dest.get_watermark("requests") == WM2
    assert dest.rejected == {"requests": 1}
    dest.close()
    (row,) = fetch(url, "SELECT resource, id, reason, record FROM _rejected")
    assert row[:3] == ("requests", None, "no integer id (got 'abc')")
    assert json.loads(row[3])["case_title"] == "Case #abc"


def test_connection_lost_between_rows_and_watermark_rolls_back_both(
    url: str, dest: Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: no real server drops the connection on cue, so the state write closes
    # it after the rows were upserted in the same (now lost) transaction.
    dest.write_batch("requests", [request(1)], WM1)
    real = type(dest)._write_state  # type: ignore[attr-defined]

    def crash(self: Any, con: Any, key: str, watermark: Watermark, pmql: Any = None) -> None:
        self._con.close()
        real(self, con, key, watermark, pmql)

    monkeypatch.setattr(type(dest), "_write_state", crash)
    with pytest.raises(DestinationError, match=r"table requests: .*(closed|connection)"):
        dest.write_batch("requests", [request(1, "COMPLETED"), request(2)], WM2)
    monkeypatch.undo()
    with open_destination(url) as reopened:
        assert reopened.count("requests") == 1
        assert reopened.get_watermark("requests") == WM1
    assert fetch(url, "SELECT status FROM requests") == [("ACTIVE",)]


def test_full_refresh_crash_before_swap_keeps_old_table(url: str, dest: Destination) -> None:
    dest.write_batch("requests", [request(1), request(2)], WM1)
    before = dest.checksum("requests")
    dest.begin_full_refresh("requests")
    dest.write_batch("requests", [request(5)], WM2)
    assert dest.get_watermark("requests") == WM2  # the staging watermark, while refreshing
    assert dest.count("requests") == 2  # readers still see the live table
    dest.close()  # the process dies before finish_full_refresh
    with open_destination(url) as reopened:
        assert reopened.checksum("requests") == before
        assert reopened.get_watermark("requests") == WM1
        with reopened.full_refresh("requests"):  # a rerun starts the staging over
            reopened.write_batch("requests", [request(7)], WM2)
        assert reopened.get_watermark("requests") == WM2
        assert reopened.resources() == ["requests"]
    assert fetch(url, "SELECT id FROM requests") == [(7,)]


def test_full_refresh_error_in_block_keeps_live_table(dest: Destination) -> None:
    dest.write_batch("requests", [request(1)], WM1)

    def failing_refresh() -> None:
        with dest.full_refresh("requests"):
            dest.write_batch("requests", [request(2)], WM2)
            raise RuntimeError("reader failed")

    with pytest.raises(RuntimeError, match="reader failed"):
        failing_refresh()
    assert dest.get_watermark("requests") == WM1
    assert dest.count("requests") == 1
    with dest.full_refresh("requests"):  # and the next refresh still works (pkey name freed)
        dest.write_batch("requests", [request(3)], WM2)
    with dest.full_refresh("requests"):
        dest.write_batch("requests", [request(4)], None)
    assert dest.get_watermark("requests") is None  # a refresh without a watermark clears it
    assert dest.count("requests") == 1


def test_typed_columns_parse_processmaker_values(url: str, dest: Destination) -> None:
    row = request(
        "12",
        updated_at="2025-08-14T02:50:02+02:00",
        completed_at="2025-08-15T10:00:00Z",
        process_id="7",
        case_number=2**70,  # beyond BIGINT: NULL in its column, intact in raw
        initiated_at="not a date",
        unknown_field={"kept": "in raw"},
    )
    del row["user_id"]
    dest.write_batch("requests", [row], None)
    dest.close()
    got = fetch(
        url,
        "SELECT id, process_id, user_id, case_number, created_at, updated_at, completed_at, "
        "initiated_at FROM requests",
    )
    assert got == [(12, 7, None, None, T0, T0, datetime(2025, 8, 15, 10, tzinfo=UTC), None)]
    columns = {r[0] for r in fetch(url, "SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'requests'")}  # fmt: skip
    assert "unknown_field" not in columns
    assert {"raw", "_synced_at", "case_number", "case_title"} <= columns


def test_raw_json_round_trips(url: str, dest: Destination) -> None:
    row = request(1, data={"amount": 12.5, "tags": ["a", "ü"], "nested": {"ok": True}}, x=None)
    dest.write_batch("requests", [row], None)
    dest.close()
    (raw,) = fetch(url, "SELECT raw::text FROM requests")[0]
    assert json.loads(raw) == row


def test_user_secrets_are_never_stored(url: str, dest: Destination) -> None:
    user = {"id": 4, "username": "ana", "password": "hash", "remember_token": "tok", "x": 1}
    dest.write_batch("users", [user], None)
    dest.close()
    (raw,) = fetch(url, "SELECT raw::text FROM users")[0]
    assert json.loads(raw) == {"id": 4, "username": "ana", "x": 1}


def test_collection_records_get_their_own_table(dest: Destination) -> None:
    mark = Watermark("collection_3_records", T0, 1)
    dest.write_batch("collection_3_records", [{"id": 1, "collection_id": 3, "data": {}}], mark)
    dest.write_batch("users", [{"id": 1}], None)
    assert dest.resources() == ["collection_3_records", "users"]
    assert dest.get_watermark("collection_3_records") == mark
    assert dest.count("requests") == 0


def test_unknown_resource_is_a_configuration_error(dest: Destination) -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown destination table 'requests; drop'"):
        dest.write_batch("requests; drop", [], None)


@pytest.mark.integration
def test_checksum_is_equal_on_both_backends(postgres_url: str, tmp_path: Path) -> None:
    rows = [request(i, data={"n": i / 3, "s": "é"}) for i in range(1, 50)]
    sums = []
    for target, batch in ((f"duckdb:///{tmp_path / 'a.duckdb'}", rows), (postgres_url, rows[::-1])):
        with open_destination(target) as dest:
            dest.write_batch("tasks", [], None)  # nothing: no table yet
            dest.write_batch("requests", batch, None)
            sums.append(dest.checksum("requests"))
    assert sums[0] == sums[1]
    with open_destination(f"duckdb:///{tmp_path / 'a.duckdb'}") as dest:
        dest.write_batch("requests", [request(1, "COMPLETED")], None)
        assert dest.checksum("requests") != sums[0]


def test_duckdb_file_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(
            DestinationError,
            match=r"^DuckDB .*locked\.duckdb: database is locked by another process \(PID \d+\): "
            r"stop the other sync or use another file$",
        ):
            open_destination(f"duckdb:///{path}")
    finally:
        holder.communicate("", timeout=30)


def test_unknown_scheme_names_it_and_hides_the_password() -> None:
    with pytest.raises(ConfigurationError, match=r"'mysql'.*use duckdb:///path\.duckdb") as info:
        open_destination("mysql://ana:hunter2-secret@db.example/pm")
    assert "hunter2-secret" not in str(info.value)
    assert "ana:**********@db.example" in str(info.value)


@pytest.mark.parametrize("bad", ["duckdb://", "duckdb:///", "duckdb://x.duckdb"])
def test_duckdb_url_without_file_is_rejected(bad: str) -> None:
    with pytest.raises(ConfigurationError, match=r"names no file: use duckdb:///relative"):
        check_destination_url(bad)


def test_unreachable_postgres_hides_the_password() -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://pm:s3cret-pass@127.0.0.1:{port}/pm?password=s3cret-pass"
    with pytest.raises(
        DestinationError, match=r"^PostgreSQL postgresql://pm:\*+@127\.0\.0\.1:\d+/pm: .*check host"
    ) as info:
        open_destination(url)
    assert "s3cret-pass" not in str(info.value)


def _memory_limit(dest: Destination) -> str:
    row = dest._con.execute("SELECT current_setting('memory_limit')").fetchone()  # type: ignore[attr-defined]
    return str(row[0])


def test_duckdb_memory_is_bounded_unless_the_url_says(tmp_path: Path) -> None:
    """DuckDB's own default (80% of RAM) would let a sync's memory grow with the table."""
    with open_destination(f"duckdb:///{tmp_path / 'a.duckdb'}") as bounded:
        default = _memory_limit(bounded)
    with open_destination(f"duckdb:///{tmp_path / 'a.duckdb'}?memory_limit=2GB") as raised:
        assert _memory_limit(raised) == "1.8 GiB"  # 2GB = 2x10^9 bytes
        raised.write_batch("users", [{"id": 1, "updated_at": "2025-08-14T00:50:02+00:00"}], None)
    assert default == "366.2 MiB"  # 384MB
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".duckdb"] == ["a.duckdb"]


def test_duckdb_out_of_memory_is_reported_as_such_with_the_fix(tmp_path: Path) -> None:
    """Not as the "transaction is aborted" error of the cleanup after it."""
    url = f"duckdb:///{tmp_path / 'a.duckdb'}?memory_limit=8MB"
    rows = [{"id": i, "updated_at": "2025-08-14T00:50:02+00:00", "name": "x" * 3000}
            for i in range(20_000)]  # fmt: skip
    with open_destination(url) as dest, pytest.raises(DestinationError) as caught:
        dest.write_batch("users", rows, None)
    assert "Out of Memory" in str(caught.value)
    assert str(caught.value).endswith("raise ?memory_limit= in the destination URL (default 384MB)")


def test_duckdb_bad_memory_limit_names_the_url_setting(tmp_path: Path) -> None:
    with pytest.raises(DestinationError, match=r"set \?memory_limit= in the destination URL"):
        open_destination(f"duckdb:///{tmp_path / 'a.duckdb'}?memory_limit=lots")


def test_one_duckdb_file_is_one_lock_whatever_its_options(tmp_path: Path) -> None:
    plain = destination_lock_name(f"duckdb:///{tmp_path / 'pm.duckdb'}")
    assert destination_lock_name(f"duckdb:///{tmp_path / 'pm.duckdb'}?memory_limit=1GB") == plain
    assert destination_lock_name(f"duckdb:///{tmp_path / 'other.duckdb'}") != plain
