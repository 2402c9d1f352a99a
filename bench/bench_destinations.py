"""Benchmark: destination writes, in rows per second.

* Arrow batch upsert (``write_batch``) vs row-by-row ``INSERT OR REPLACE`` into DuckDB. The
  row-by-row side costs milliseconds a row, so it runs on a smaller N: the comparison is of
  per-row cost, which does not depend on N for either side at these sizes.
* ``write_batch`` per sync page (200 rows) vs one batch of every row: the fixed cost of a
  call (a transaction, the watermark, an Arrow table).
* DuckDB vs PostgreSQL, same rows, same ``write_batch``: only when PostgreSQL's server
  binaries are installed (as ``tests/fixtures/postgres.py`` finds them); skipped otherwise.

Run alone with ``python -m bench.bench_destinations [--quick]``.
"""

from __future__ import annotations

import importlib.util
import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from bench._common import Comparison, median_of, print_comparisons
from processmaker_prefect.catalogue import spec_for
from processmaker_prefect.destinations import Watermark, open_destination
from processmaker_prefect.destinations.batch import to_batch
from processmaker_prefect.sandbox.postgres import DevPostgres

NAME = "destinations"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PAGE = 200  # a sync's page size in the sync benchmark


@dataclass(frozen=True)
class Plan:
    rows: int  # Arrow side
    row_by_row: int  # the naive side, much slower per row
    repeat: int


def plan(quick: bool) -> Plan:
    return Plan(5_000, 200, 1) if quick else Plan(20_000, 1_000, 3)


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
    """One INSERT OR REPLACE per row in one transaction: the naive way.

    The rows are converted to columns before the clock starts, so only the inserts count.
    """
    spec = spec_for("requests")
    batch = to_batch(spec, rows, datetime.now(UTC))
    with open_destination(f"duckdb:///{path}") as dest:
        dest.write_batch("requests", [], None)  # same table DDL as the Arrow path
    con = duckdb.connect(str(path))
    marks = ", ".join("?::JSON" if n == "raw" else "?" for n in batch.names)
    names = ", ".join(batch.names)  # the table has _deleted_at too, left NULL
    sql = f"INSERT OR REPLACE INTO requests ({names}) VALUES ({marks})"  # noqa: S608
    started = time.perf_counter()
    con.begin()
    for values in zip(*(batch.columns[n] for n in batch.names), strict=True):
        con.execute(sql, list(values))
    con.commit()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def batched(url: str, rows: list[dict[str, Any]], size: int) -> float:
    """``write_batch`` calls of ``size`` rows, each with its watermark, as a sync makes them.

    Includes the conversion of rows to Arrow; excludes opening the database.
    """
    with open_destination(url) as dest:
        started = time.perf_counter()
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            dest.write_batch("requests", chunk, Watermark("requests", T0, chunk[-1]["id"]))
        return time.perf_counter() - started


def run(quick: bool = False) -> list[Comparison]:
    sizes = plan(quick)
    rows = make_rows(sizes.rows)
    small = rows[: sizes.row_by_row]
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        numbers = itertools.count(1)

        def fresh() -> Path:  # a new DuckDB file for each repetition
            return Path(tmp) / f"bench-{next(numbers)}.duckdb"

        batched(f"duckdb:///{fresh()}", rows[:PAGE], PAGE)  # warm-up: the first connect is slow
        naive = median_of(lambda: row_by_row(fresh(), small), sizes.repeat)
        arrow = median_of(lambda: batched(f"duckdb:///{fresh()}", rows, len(rows)), sizes.repeat)
        paged = median_of(lambda: batched(f"duckdb:///{fresh()}", rows, PAGE), sizes.repeat)
    n, m = len(rows), len(small)
    return [
        Comparison(
            NAME, "arrow_vs_rows", f"row-by-row INSERT ({m:,} rows)", m / naive,
            f"Arrow write_batch ({n:,} rows)", n / arrow, "rows/s",
            f"DuckDB; per row {naive / m * 1e6:,.0f} us vs {arrow / n * 1e6:,.1f} us "
            "(Arrow side includes the row-to-Arrow conversion)",
        ),
        Comparison(
            NAME, "one_batch_vs_pages", f"{n // PAGE} batches of {PAGE}", n / paged,
            f"1 batch of {n:,}", n / arrow, "rows/s",
            f"DuckDB; {paged / (n / PAGE) * 1e3:,.1f} ms per {PAGE}-row write_batch "
            "(transaction + watermark each)",
        ),
        duckdb_vs_postgres(rows, arrow, sizes.repeat),
    ]  # fmt: skip


def duckdb_vs_postgres(rows: list[dict[str, Any]], duck: float, repeat: int) -> Comparison:
    """The same ``write_batch`` into a throwaway PostgreSQL, one new database per repetition."""
    n = len(rows)
    why_not = postgres_missing()
    if why_not:
        return Comparison(
            NAME, "duckdb_vs_postgres", f"DuckDB ({n:,} rows)", n / duck,
            "PostgreSQL: skipped", float("nan"), "rows/s", f"skipped: {why_not}",
        )  # fmt: skip
    with postgres_server() as new_database:
        batched(new_database(), rows[:PAGE], PAGE)  # warm-up
        pg = median_of(lambda: batched(new_database(), rows, len(rows)), repeat)
    return Comparison(
        NAME, "duckdb_vs_postgres", f"DuckDB write_batch ({n:,} rows)", n / duck,
        f"PostgreSQL write_batch ({n:,} rows)", n / pg, "rows/s",
        "one batch each; PostgreSQL over loopback TCP, fsync=off, COPY into a temp table "
        "then one INSERT ... ON CONFLICT",
    )  # fmt: skip


def postgres_missing() -> str:
    """Why PostgreSQL cannot be benchmarked here, or ``""`` when it can."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install 'processmaker-prefect[postgres]')"
    return DevPostgres.missing()


@contextmanager
def postgres_server() -> Iterator[Callable[[], str]]:
    """Start a cluster on a free loopback port; yield a function that creates a database."""
    import psycopg  # the optional "postgres" extra: imported only when it is there

    created = itertools.count(1)
    with DevPostgres() as server:

        def new_database() -> str:
            name = f"bench_{next(created)}"
            with psycopg.connect(server.url, autocommit=True) as con:
                con.execute(f"CREATE DATABASE {name}")
            return server.database_url(name)

        yield new_database


def main() -> None:
    import sys

    print_comparisons("destinations", run(quick="--quick" in sys.argv[1:]))


if __name__ == "__main__":
    main()
