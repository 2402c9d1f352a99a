"""Benchmark: sync paging against a sandbox that answers each API call after a latency.

A real ProcessMaker answers a list page in tens of milliseconds, so a sync spends most of
its time waiting; ``max_concurrency`` overlaps the waits. Compared, at ``per_page`` 200:

* ``ResourceSync`` of ``requests`` into DuckDB, ``max_concurrency`` 1 (baseline) vs 4;
* ``client.list_pages`` page-number listing, sequential (baseline) vs 4 pages in flight.

The sandbox runs in its own process with a ``latency_ms`` fault on every API call; the
client authenticates with the sandbox's personal access token (``PatAuth``: no Vault, no
grant, so only paging is measured).

Run alone with ``python -m bench.bench_sync [--quick]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench._common import (
    Comparison,
    PatAuth,
    median_of,
    print_comparisons,
    sandbox_process,
    timed,
)
from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.catalogue import RESOURCES
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sync import ResourceSync
from tests.fixtures.sandbox import SandboxControl

NAME = "sync"
PER_PAGE = 200
CONCURRENCY = 4


@dataclass(frozen=True)
class Plan:
    records: int
    latency_ms: int
    repeat: int


def plan(quick: bool) -> Plan:
    """Sizes: ``--quick`` is a smoke run, the full run is what docs/pages/benchmarks.md quotes."""
    if quick:
        return Plan(records=2_000, latency_ms=30, repeat=1)
    return Plan(records=20_000, latency_ms=30, repeat=3)


def sync_seconds(client: ProcessMakerClient, concurrency: int, expected: int) -> float:
    """Seconds of a first sync of every request into a fresh in-memory DuckDB.

    Opening the database stays out of the timing: DuckDB's first connection in a process
    costs about half a second, the same for both sides, and would only dilute the ratio.
    """
    with open_destination("duckdb:///:memory:") as dest:
        sync = ResourceSync(
            client, dest, RESOURCES["requests"], per_page=PER_PAGE, max_concurrency=concurrency
        )
        started = time.perf_counter()
        result = sync.run()
        elapsed = time.perf_counter() - started
    if result.rows != expected:
        raise RuntimeError(f"sync stored {result.rows} rows, expected {expected}")
    return elapsed


def list_once(client: ProcessMakerClient, concurrency: int, expected: int) -> None:
    """Every page of ``GET /api/1.0/requests`` by page number."""
    rows = sum(
        len(page)
        for page in client.list_pages("/requests", per_page=PER_PAGE, max_concurrency=concurrency)
    )
    if rows != expected:
        raise RuntimeError(f"listing returned {rows} rows, expected {expected}")


def run(quick: bool = False) -> list[Comparison]:
    sizes = plan(quick)
    n = sizes.records
    config = SandboxConfig(port=0, records=n)
    with sandbox_process(config) as url:
        control = SandboxControl(url)
        client = ProcessMakerClient(url, PatAuth(config.pat), retries=0)

        def measured(measure: Callable[[], float]) -> tuple[float, int]:
            """Median seconds, and API calls per run (the sandbox counts them)."""
            control.reset()
            control.set_faults(latency_ms=sizes.latency_ms)
            seconds = median_of(measure, sizes.repeat)
            return seconds, control.stats()["requests_total"] // sizes.repeat

        with client:
            list_once(client, CONCURRENCY, n)  # warm-up: SQLite's pages, pooled connections
            seq_sync, seq_calls = measured(lambda: sync_seconds(client, 1, n))
            par_sync, par_calls = measured(lambda: sync_seconds(client, CONCURRENCY, n))
            seq_list, list_calls = measured(lambda: timed(lambda: list_once(client, 1, n)))
            par_list, _ = measured(lambda: timed(lambda: list_once(client, CONCURRENCY, n)))
    context = f"{n:,} requests, per_page {PER_PAGE}, {sizes.latency_ms} ms added to each API call"
    return [
        Comparison(
            NAME, "resource_sync", "max_concurrency=1", n / seq_sync,
            f"max_concurrency={CONCURRENCY}", n / par_sync, "rows/s",
            f"ResourceSync of requests into in-memory DuckDB; {context}; medians "
            f"{seq_sync:.2f} s ({seq_calls} API calls) vs {par_sync:.2f} s ({par_calls} calls)",
        ),
        Comparison(
            NAME, "list_pages", "sequential", n / seq_list,
            f"{CONCURRENCY} pages in flight", n / par_list, "rows/s",
            f"client.list_pages by page number; {context}; medians "
            f"{seq_list:.2f} s vs {par_list:.2f} s ({list_calls} API calls each)",
        ),
    ]  # fmt: skip


def main() -> None:
    print_comparisons("sync paging", run(quick="--quick" in sys.argv[1:]))


if __name__ == "__main__":
    main()
