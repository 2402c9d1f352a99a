"""Benchmark: the ``sync`` flow at API speed, each figure beside its goal (issues 9 and 23).

The speed figures read realistic requests (the sandbox's seed and serialiser, about 1.5 KB
each with ``include=data``) from ``bench._page_server``: a ProcessMaker-compatible list
server in its own process that renders every record once at start and answers each list
call with bytes after ``latency_ms``, so its CPU per page is small and the figures measure
the client. The sandbox (which evaluates PMQL and time windows) serves the no-op, token
and five-resource runs. The credentials live in an OpenBao dev server whose audit log
counts the Vault reads. Every flow run is a fresh process (``bench._flow_child``) with its
own ``PREFECT_HOME``, so it starts cold as a scheduled run does. Figures, all measured in
this one run (baselines beside their candidates):

* the client's CPU per realistic record in-process (parse + convert + write to DuckDB), and
  the same into a table of 10x the records vs 1x;
* the ``sync`` flow vs a hand-written 8-thread ``requests`` pool over the same pages, and vs
  a sequential ``requests.Session`` loop; the flow vs the ideal (pages x latency / 8);
* requests to the route vs ceil(records / page size); time in the destination;
* a run with nothing changed: API requests per resource;
* Vault reads (audit log) and token grants per run, for 10 to 1,000 pages;
* ``pm-prefect sync`` with nothing to do vs a hello-world flow, both whole processes;
* five resources side by side vs one after another, into PostgreSQL and into DuckDB;
* peak RSS of a first sync of 10x the records, pages of 1,000 (100,000 vs 10,000;
  ``--rss-large``: 1,000,000 vs 100,000), full run only, at the end.

Run alone with ``python -m bench.bench_speed [--quick] [--core] [--profile FILE] [--rss-large]``
(``--core``: the full-size speed figures only, without the token, process and memory runs).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import requests

from bench._common import (
    SANDBOX_PIDS,
    Figure,
    cpu_seconds,
    median_seconds,
    print_figures,
    sandbox_process,
)
from bench._page_server import page_server, stats
from bench._stack import (
    CONCURRENCY,
    HELLO,
    PER_PAGE,
    AuditedVault,
    Stack,
    flow_run,
    prefect_server,
    whole_process,
)
from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.catalogue import resource_for
from processmaker_prefect.destinations import Destination, open_destination
from processmaker_prefect.destinations.duckdb import DuckDBDestination
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.postgres import DevPostgres
from processmaker_prefect.sync import ResourceSync, engine
from tests.fixtures.sandbox import PatAuth, SandboxControl

NAME = "speed"
CORES = os.cpu_count() or 1
TIES, RSS_PAGE = 14, 1000


@dataclass(frozen=True)
class Plan:
    records: int  # the speed figures' requests, served by the page server
    latency_ms: int
    sandbox_records: int  # the sandbox's, for the token, no-op and five-resource figures
    page_runs: tuple[tuple[str, int], ...]  # (resource, per_page) for the token economy
    processes: int  # whole-process runs of each side; 0: skipped
    rss: tuple[int, int] | None  # records of the small and the large first sync
    five: int  # requests (and tasks) of the five-resource PostgreSQL figure; 0: skipped


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(5_000, 20, 2_000, (), 0, None, 0)
    runs = (("users", 50), ("requests", 50))  # 10 and 1,000 pages
    # 10x the records for the memory figure, pages of 1,000. The issue asks 100k vs 1M: a
    # first sync of a million realistic records takes minutes of client CPU on a busy 2-core
    # machine, so ``--rss-large`` runs it where there is time.
    large = (100_000, 1_000_000) if "--rss-large" in sys.argv else (10_000, 100_000)
    if "--core" in sys.argv:  # the speed figures alone, for profiling rounds
        return Plan(100_000, 50, 50_000, (), 0, None, 0)
    return Plan(100_000, 50, 50_000, runs, 1, large, 5_000)


def _login(session: requests.Session, url: str) -> None:
    config = SandboxConfig()
    token = session.post(f"{url}/oauth/token", data={
        "grant_type": "password", "client_id": config.client_id,
        "client_secret": config.client_secret, "username": config.username,
        "password": config.password,
    }, timeout=30).json()["access_token"]  # fmt: skip
    session.headers["Authorization"] = f"Bearer {token}"


def _page(session: requests.Session, url: str, page: int) -> dict[str, Any]:
    query = {"include": "data", "page": page, "per_page": PER_PAGE}
    body: dict[str, Any] = session.get(f"{url}/api/1.0/requests", params=query, timeout=60).json()
    return body


def loop_seconds(url: str, records: int) -> float:
    """A hand-written client: one token, one Session, page=1,2,3... one after another."""
    with requests.Session() as session:
        _login(session, url)
        started, page, rows = time.perf_counter(), 1, 0
        while True:
            body = _page(session, url, page)
            rows += len(body["data"])
            if page >= body["meta"]["last_page"]:
                break
            page += 1
        seconds = time.perf_counter() - started
    if rows != records:
        raise RuntimeError(f"the loop read {rows} rows, expected {records}")
    return seconds


def threads_seconds(url: str, records: int) -> float:
    """A hand-written client: page 1 for the page count, then the other pages on a pool of
    ``CONCURRENCY`` threads, a Session each (the same pages as the sequential loop)."""
    local = threading.local()

    def fetch(page: int) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = token
        return len(_page(local.session, url, page)["data"])

    with requests.Session() as session:
        _login(session, url)
        token = session.headers["Authorization"]
        started = time.perf_counter()
        first = _page(session, url, 1)
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            rest = range(2, first["meta"]["last_page"] + 1)
            rows = len(first["data"]) + sum(pool.map(fetch, rest))
        seconds = time.perf_counter() - started
    if rows != records:
        raise RuntimeError(f"the threads read {rows} rows, expected {records}")
    return seconds


def run(quick: bool = False, profile: str = "") -> list[Figure]:
    sizes = plan(quick)
    n, latency = sizes.records, sizes.latency_ms
    figures: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="pm-bench-speed-"))
    try:
        with AuditedVault(work / "audit.log") as vault, prefect_server(work) as api:
            stack = Stack(vault, work, api)
            with page_server(n, latency) as (url, size):
                figures += _client_cost(url, work, 4 if quick else 20, size)
                figures += _speed(stack, url, n, latency, work, profile, size)
                figures += _bounds(url, n, work)
            config = SandboxConfig(port=0, records=sizes.sandbox_records, ties=TIES,
                                   throttle_per_minute=10**6)  # fmt: skip
            with sandbox_process(config) as url:
                figures += _noop(stack, url, latency, work)
                figures += _tokens(stack, url, n, latency, sizes.page_runs, work)
                if sizes.processes:
                    figures.append(_processes(stack, url, work, sizes.processes))
            if sizes.five:
                figures += _five(stack, sizes.five, latency, work)
            if sizes.rss:
                figures.append(_rss(stack, sizes.rss, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _speed(
    stack: Stack, url: str, n: int, latency: int, work: Path, profile: str, size: float
) -> list[Figure]:
    loop = loop_seconds(url, n)
    threads = threads_seconds(url, n)
    before = stats(url)
    reads = stack.vault_reads()
    first = flow_run(stack.env(url), ["requests"], work / "speed.duckdb", profile)
    reads = stack.vault_reads() - reads
    served = {k: v - before.get(k, 0) for k, v in stats(url).items()}
    task = first["result"]["resources"][0]
    if task["rows"] != n:
        raise RuntimeError(f"the sync stored {task['rows']} rows, expected {n}")
    pages = math.ceil(n / PER_PAGE)
    ideal = pages * latency / 1000 / CONCURRENCY
    flow_s = first["flow_seconds"]
    context = (
        f"{n:,} requests of {size / 1000:.1f} KB (include=data), {latency} ms a call, "
        f"per_page {PER_PAGE}, {CONCURRENCY} in flight, page server in its own process"
    )
    return [
        Figure(NAME, "flow_vs_8_threads", flow_s / threads, ("<=", 1.25),
               f"sync flow {flow_s:.2f} s (sync task {task['seconds']:.2f} s) vs 8-thread "
               f"requests loop {threads:.2f} s; {context}"),
        Figure(NAME, "speedup_vs_loop", loop / flow_s, (">=", 4),
               f"sequential requests.Session loop {loop:.2f} s vs sync flow {flow_s:.2f} s"),
        Figure(NAME, "flow_vs_ideal", flow_s / ideal, None,
               f"ideal {ideal:.2f} s = {pages} pages x {latency} ms / {CONCURRENCY}; "
               f"8-thread loop vs ideal {threads / ideal:.2f}"),
        Figure(NAME, "pages_vs_needed", served.get("GET /api/1.0/requests", 0) / pages,
               ("<=", 1.05), f"{served.get('GET /api/1.0/requests', 0)} requests for {pages} "
               "pages of data"),
        Figure(NAME, "write_share", task["write_seconds"] / task["seconds"], None,
               f"{task['write_seconds']:.2f} s in DuckDB of a {task['seconds']:.2f} s sync task"),
        Figure(NAME, "flow_cpu_us_per_record", 1e6 * first["cpu_seconds"] / n, None,
               f"the flow process's CPU {first['cpu_seconds']:.2f} s over {n:,} records "
               f"({CORES} cores)"),
        Figure(NAME, f"vault_reads_{pages}_pages", reads, ("<=", 1), "OpenBao audit log"),
        Figure(NAME, f"grants_{pages}_pages", served.get("POST /oauth/token", 0), ("<=", 1),
               "page server's count"),
    ]  # fmt: skip


class _Discard(DuckDBDestination):
    """Stores nothing: the sync's reading alone (requests, orjson, the id-range plan)."""

    def write_batch(self, resource: str, rows: Any, watermark: Any, pmql: Any = None) -> int:
        return len(rows)


def _engine_seconds(url: str, where: str, collector: bool = True) -> float:
    """The sync engine alone, in this process (no Prefect, no Vault): ``ResourceSync`` of the
    requests, as the flow's task runs it; ``collector`` False keeps Python's default GC."""
    dest = _Discard(":memory:") if where == "discard" else open_destination(where)
    quiet = (lambda: contextlib.nullcontext()) if not collector else engine.bulk_collection
    original, engine.bulk_collection = engine.bulk_collection, quiet  # type: ignore[assignment]
    try:
        # The page server reads no token.
        with ProcessMakerClient(url, PatAuth("bench"), pool_size=CONCURRENCY) as client, dest:
            sync = ResourceSync(client, dest, resource_for("requests"), per_page=PER_PAGE,
                                max_concurrency=CONCURRENCY, lag=0)  # fmt: skip
            started = time.perf_counter()
            sync.run()
            return time.perf_counter() - started
    finally:
        engine.bulk_collection = original  # type: ignore[assignment]


def _bounds(url: str, n: int, work: Path) -> list[Figure]:
    """What bounds the flow on this machine, each measured in this run: the sync reading with
    nothing written, against the hand-written 8-thread loop; the engine with Python's default
    garbage-collector thresholds against the raised ones (sync/collector.py)."""
    threads = threads_seconds(url, n)
    reading = _engine_seconds(url, "discard")
    # Alternated, the best of two each: a neighbour's burst on the shared host lands on one.
    runs: dict[bool, list[float]] = {False: [], True: []}
    for index in range(4):
        raised = bool(index % 2)
        where = f"duckdb:///{work / f'gc-{index}.duckdb'}"
        runs[raised].append(_engine_seconds(url, where, collector=raised))
    default_gc, raised_gc = min(runs[False]), min(runs[True])
    return [
        Figure(NAME, "reading_alone_vs_8_threads", reading / threads, None,
               f"the sync storing nothing {reading:.2f} s vs the 8-thread loop {threads:.2f} s "
               f"({n:,} requests): the least a flow can take here"),
        Figure(NAME, "gc_thresholds", raised_gc / default_gc, None,
               f"engine with the collector's thresholds raised {raised_gc:.2f} s vs Python's "
               f"defaults {default_gc:.2f} s ({n:,} requests into DuckDB, in-process, best of "
               "two each, alternated)"),
    ]  # fmt: skip


def _noop(stack: Stack, url: str, latency: int, work: Path) -> list[Figure]:
    """A run with nothing changed, against the sandbox (which evaluates the time window)."""
    control = SandboxControl(url)
    flow_run(stack.env(url), [], work / "noop.duckdb")  # every core resource, untimed
    control.reset()
    control.set_faults(latency_ms=latency)
    noop = flow_run(stack.env(url), [], work / "noop.duckdb")
    per_route = control.stats()["requests"]
    return [
        Figure(NAME, "noop_requests_per_resource", max(per_route.values()), ("<=", 1),
               f"nothing changed: {per_route} (flow {noop['flow_seconds']:.2f} s)"),
    ]  # fmt: skip


def _five(stack: Stack, records: int, latency: int, work: Path) -> list[Figure]:
    """The five core resources side by side vs one after another, into PostgreSQL and into
    DuckDB (one writer fed by the resources' readers)."""
    five = ["requests", "tasks", "users", "processes", "groups"]
    config = SandboxConfig(port=0, records=records, ties=TIES, throttle_per_minute=10**6)
    figures = []
    with sandbox_process(config) as url, DevPostgres() as server:
        control = SandboxControl(url)
        server_pid = SANDBOX_PIDS[url]
        for backend in ("postgresql", "duckdb"):
            seconds, busy = {}, {}
            for label, parallel in (("sequential", "1"), ("concurrent", "5")):
                if backend == "postgresql":
                    with psycopg.connect(server.url, autocommit=True) as con:
                        con.execute(f"CREATE DATABASE five_{label}")
                    where: Path | str = server.database_url(f"five_{label}")
                else:
                    where = work / f"five-{label}.duckdb"
                control.reset()
                control.set_faults(latency_ms=latency)
                env = {**stack.env(url), "PROCESSMAKER_RESOURCE_CONCURRENCY": parallel}
                before = cpu_seconds(server_pid)
                seconds[label] = flow_run(env, five, where)["flow_seconds"]
                busy[label] = cpu_seconds(server_pid) - before  # the sandbox's own CPU
            goal = ("<=", 0.5) if backend == "postgresql" else None
            figures.append(Figure(
                NAME, f"five_resources_{backend}_concurrent_vs_sequential",
                seconds["concurrent"] / seconds["sequential"], goal,
                f"{seconds['concurrent']:.2f} s side by side vs {seconds['sequential']:.2f} s "
                f"one after another; {', '.join(five)} ({records:,} requests) into {backend}, "
                f"sandbox at {latency} ms a call, its own CPU {busy['concurrent']:.2f} s and "
                f"{busy['sequential']:.2f} s of those runs",
            ))  # fmt: skip
    return figures


def _client_cost(url: str, work: Path, pages: int, size: float) -> list[Figure]:
    """The client's own cost per realistic record, in this process, on pages fetched once:
    parsing alone vs parsing, converting and writing to DuckDB; and that cost into a table
    holding 10x the records vs 1x (it must not grow with the table)."""
    with requests.Session() as session:
        bodies = [
            session.get(f"{url}/api/1.0/requests", timeout=60,
                        params={"include": "data", "page": p, "per_page": PER_PAGE}).content
            for p in range(1, pages + 1)
        ]  # fmt: skip
    records = pages * PER_PAGE
    parse = median_seconds(lambda: [orjson.loads(b) for b in bodies], 3)

    def write(dest: Destination, offset: int) -> float:
        started = time.perf_counter()
        for first in range(0, pages, 8):  # the engine's batches of up to 8 pages
            rows = [r for b in bodies[first : first + 8] for r in orjson.loads(b)["data"]]
            for row in rows:
                row["id"] += offset
            dest.write_batch("requests", rows, None)
        return time.perf_counter() - started

    with open_destination(f"duckdb:///{work / 'cost.duckdb'}") as dest:
        write(dest, 0)  # creates the tables: a one-time cost, not a per-record one
        # Two rounds each, so that each side holds about one of DuckDB's periodic checkpoints.
        small = (write(dest, 10**7) + write(dest, 2 * 10**7)) / 2  # table of 1-2x the records
        for round_ in range(3, 9):
            write(dest, round_ * 10**7)
        large = (write(dest, 9 * 10**7) + write(dest, 10 * 10**7)) / 2  # 9-10x
    return [
        Figure(NAME, "client_us_per_record", 1e6 * small / records, ("<=", 10),
               f"parse + convert + write of a {size / 1000:.1f} KB request (include=data) "
               f"into DuckDB, in batches of 8 pages of {PER_PAGE}, one thread"),
        Figure(NAME, "client_cost_vs_parse", small / parse, None,
               f"parse + convert + write {1e6 * small / records:.0f} µs per record vs parse "
               f"alone {1e6 * parse / records:.0f} µs ({records:,} requests, DuckDB)"),
        Figure(NAME, "client_cost_10x_table", large / small, ("<=", 1.3),
               f"{1e6 * large / records:.0f} µs per record into {10 * records:,} rows vs "
               f"{1e6 * small / records:.0f} µs into {records:,}"),
    ]  # fmt: skip


def _tokens(
    stack: Stack, url: str, n: int, latency: int, runs: tuple[tuple[str, int], ...], work: Path
) -> list[Figure]:
    control = SandboxControl(url)
    figures = []
    for index, (resource, per_page) in enumerate(runs):
        control.reset()
        control.set_faults(latency_ms=latency)
        reads = stack.vault_reads()
        flow_run(stack.env(url, per_page), [resource], work / f"tokens-{index}.duckdb")
        stats = control.stats()
        pages = stats["requests_total"]
        grants = stats["grants_total"]
        reads = stack.vault_reads() - reads
        figures.append(Figure(NAME, f"vault_reads_{pages}_pages", reads, ("<=", 1),
                              f"{resource}, per_page {per_page}: OpenBao audit log"))  # fmt: skip
        figures.append(Figure(NAME, f"grants_{pages}_pages", grants, ("<=", 1),
                              f"{resource}, per_page {per_page}: sandbox stats"))  # fmt: skip
    return figures


def _processes(stack: Stack, url: str, work: Path, runs: int) -> Figure:
    env = stack.env(url, ephemeral=True)
    SandboxControl(url).reset()  # no latency: the processes' own cost
    pm_prefect = shutil.which("pm-prefect", path=str(Path(sys.executable).parent))
    if pm_prefect is None:
        return Figure(NAME, "noop_process_vs_hello", float("nan"), ("<=", 1.5), "no pm-prefect")
    # A file of this sandbox's own (a destination belongs to one instance), synced once
    # untimed, so that the timed runs have nothing to do.
    command = [pm_prefect, "sync", "--resources", "requests", "--destination",
               f"duckdb:///{work / 'noop-process.duckdb'}"]  # fmt: skip
    whole_process(command, env, 1)
    hello = whole_process([sys.executable, "-c", HELLO], env, runs)
    noop = whole_process(command, env, runs)
    return Figure(NAME, "noop_process_vs_hello", noop / hello, ("<=", 1.5),
                  f"pm-prefect sync with nothing to do {noop:.1f} s vs hello-world flow "
                  f"{hello:.1f} s, whole processes, medians of {runs}")  # fmt: skip


def _rss(stack: Stack, sizes: tuple[int, int], work: Path) -> Figure:
    """Peak RSS of two first syncs of realistic requests, 10x apart, at per_page 1,000 from
    the page server; the ratio shows what grows with the records, not the buffers."""
    peaks = []
    for records in sizes:
        with page_server(records) as (url, _):
            env = stack.env(url, per_page=RSS_PAGE)
            done = flow_run(env, ["requests"], work / f"rss-{records}.duckdb")
        if done["result"]["resources"][0]["rows"] != records:
            raise RuntimeError(f"the {records:,}-record sync stored {done['result']}")
        peaks.append(done["rss"])
    small, large = sizes
    return Figure(NAME, f"rss_{large // 1000}k_vs_{small // 1000}k", peaks[1] / peaks[0],
                  ("<=", 1.3), f"peak RSS of the flow process {peaks[1] / 2**20:.0f} MB vs "
                  f"{peaks[0] / 2**20:.0f} MB (first sync of requests, per_page {RSS_PAGE}, "
                  "no latency)")  # fmt: skip


def main() -> None:
    argv = sys.argv[1:]
    profile = argv[argv.index("--profile") + 1] if "--profile" in argv else ""
    print_figures("sync at API speed", run(quick="--quick" in argv, profile=profile))


if __name__ == "__main__":
    main()
