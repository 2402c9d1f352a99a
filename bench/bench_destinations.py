"""Benchmark: DuckDB row-by-row upserts vs the destination's Arrow batch upsert.

Run with ``python bench/bench_destinations.py [--rows 20000]``; prints both times and the ratio.
Not a test: timings vary by machine, only the order of magnitude matters.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tasks._schema import spec_for, to_batch
from tasks.destinations import Watermark, open_destination

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def make_rows(count: int) -> list[dict[str, Any]]:
    """Requests shaped like ProcessMaker's list items (API-NOTES §6)."""
    return [
        {
            "id": i,
            "uuid": f"9f1c-{i:08d}",
            "process_id": i % 17,
            "user_id": i % 101,
            "status": "COMPLETED" if i % 3 else "ACTIVE",
            "name": "Leave request",
            "case_number": i,
            "case_title": f"Case #{i}",
            "created_at": (T0 + timedelta(seconds=i)).isoformat(),
            "updated_at": (T0 + timedelta(seconds=i)).isoformat(),
            "initiated_at": (T0 + timedelta(seconds=i)).isoformat(),
            "completed_at": None,
            "data": {"amount": i * 1.5, "approved": bool(i % 2)},
        }
        for i in range(1, count + 1)
    ]


def row_by_row(path: Path, rows: list[dict[str, Any]]) -> float:
    """One INSERT OR REPLACE per row in one transaction: the naive way."""
    spec = spec_for("requests")
    batch = to_batch(spec, rows, datetime.now(UTC))
    with open_destination(f"duckdb:///{path}") as dest:
        dest.write_batch("requests", [], None)  # same table DDL as the Arrow path
    con = duckdb.connect(str(path))
    marks = ", ".join("?::JSON" if n == "raw" else "?" for n in batch.names)
    sql = f"INSERT OR REPLACE INTO requests VALUES ({marks})"  # noqa: S608 - placeholders only
    started = time.perf_counter()
    con.begin()
    for values in zip(*(batch.columns[n] for n in batch.names), strict=True):
        con.execute(sql, list(values))
    con.commit()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def arrow_upsert(path: Path, rows: list[dict[str, Any]]) -> float:
    """The destination's write_batch: one Arrow table, one INSERT OR REPLACE ... SELECT."""
    with open_destination(f"duckdb:///{path}") as dest:
        started = time.perf_counter()
        dest.write_batch("requests", rows, Watermark("requests", T0, len(rows)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    rows = make_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        slow = row_by_row(Path(tmp) / "rows.duckdb", rows)
        fast = arrow_upsert(Path(tmp) / "arrow.duckdb", rows)
    print(f"rows:        {args.rows:,}")
    print(f"row by row:  {slow:8.3f} s  ({args.rows / slow:,.0f} rows/s)")
    print(f"arrow batch: {fast:8.3f} s  ({args.rows / fast:,.0f} rows/s, incl. conversion)")
    print(f"ratio:       {slow / fast:,.0f}x")


if __name__ == "__main__":
    main()
