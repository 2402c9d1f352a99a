"""Benchmark: the ``sync`` flow at API speed, each figure beside its goal (issue 9).

A sandbox in its own process serves requests whose ``updated_at`` values are lumpy (14
records per timestamp, as bulk imports leave them), evaluates PMQL and counts
``meta.total`` on every list call, and answers each API call after ``latency_ms``. The
credentials live in an OpenBao dev server whose audit log counts the Vault reads. Every
flow run is a fresh process (``bench._flow_child``) with its own ``PREFECT_HOME``, so it
starts cold as a scheduled run does. Figures, all measured in this one run:

* the client's cost per record in-process: parse + convert + write ÷ parsing alone, and
  the same into a table of 10x the records ÷ into one of 1x;
* speed-up: a hand-written sequential ``requests.Session`` page loop ÷ the ``sync`` flow;
* the ``sync`` flow ÷ the ideal (pages x latency / concurrency);
* requests to the route ÷ ceil(records ÷ page size);
* time in the destination ÷ the sync task's time (writes overlap fetching);
* a run with nothing changed: API requests per resource;
* Vault reads (audit log) and token grants (sandbox stats) per run, for 10 to 1,000 pages;
* ``pm-prefect sync`` with nothing to do ÷ a hello-world flow, both whole processes;
* peak RSS of a first sync of 10x the records (100,000 vs 10,000; ``--rss-large``: 1,000,000
  vs 100,000), full run only, at the end.

Run alone with ``python -m bench.bench_speed [--quick] [--core] [--profile FILE] [--rss-large]``
(``--core``: the full-size speed figures only, without the token, process and memory runs).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import requests

from bench._common import Figure, median_seconds, print_figures, sandbox_process
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
from processmaker_prefect.destinations import Destination, open_destination
from processmaker_prefect.sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxControl

NAME = "speed"
CORES = os.cpu_count() or 1
TIES, RSS_PAGE = 14, 100


@dataclass(frozen=True)
class Plan:
    records: int
    latency_ms: int
    page_runs: tuple[tuple[str, int], ...]  # (resource, per_page) for the token economy
    processes: int  # whole-process runs of each side; 0: skipped
    rss: tuple[int, int] | None  # records of the small and the large first sync


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(5_000, 20, (), 0, None)
    runs = (("users", 50), ("requests", 50))  # 10 and 1,000 pages; 100 is the speed run
    # 10x the records for the memory figure. The issue asks 100k vs 1M; the sandbox spends
    # about a millisecond of CPU per record served on a busy 2-core machine, so 1M would take
    # a quarter of an hour there: ``--rss-large`` runs it where there is time.
    large = (100_000, 1_000_000) if "--rss-large" in sys.argv else (10_000, 100_000)
    if "--core" in sys.argv:  # the speed figures alone, for profiling rounds
        return Plan(50_000, 50, (), 0, None)
    return Plan(50_000, 50, runs, 1, large)


def loop_seconds(url: str, records: int) -> float:
    """A hand-written client: one token, one Session, page=1,2,3... one after another."""
    config = SandboxConfig()
    with requests.Session() as session:
        token = session.post(f"{url}/oauth/token", data={
            "grant_type": "password", "client_id": config.client_id,
            "client_secret": config.client_secret, "username": config.username,
            "password": config.password,
        }, timeout=30).json()["access_token"]  # fmt: skip
        session.headers["Authorization"] = f"Bearer {token}"
        started, page, rows = time.perf_counter(), 1, 0
        while True:
            query = {"include": "data", "page": page, "per_page": PER_PAGE}
            body = session.get(f"{url}/api/1.0/requests", params=query, timeout=60).json()
            rows += len(body["data"])
            if page >= body["meta"]["last_page"]:
                break
            page += 1
        seconds = time.perf_counter() - started
    if rows != records:
        raise RuntimeError(f"the loop read {rows} rows, expected {records}")
    return seconds


def run(quick: bool = False, profile: str = "") -> list[Figure]:
    sizes = plan(quick)
    n, latency = sizes.records, sizes.latency_ms
    figures: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="pm-bench-speed-"))
    try:
        with AuditedVault(work / "audit.log") as vault, prefect_server(work) as api:
            stack = Stack(vault, work, api)
            config = SandboxConfig(port=0, records=n, ties=TIES, throttle_per_minute=10**6)
            with sandbox_process(config) as url:
                figures += _client_cost(url, work, 4 if quick else 20)
                figures += _speed(stack, url, n, latency, work, profile)
                figures += _tokens(stack, url, n, latency, sizes.page_runs, work)
                if sizes.processes:
                    figures.append(_processes(stack, url, work, sizes.processes))
            if sizes.rss:
                figures.append(_rss(stack, sizes.rss, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _speed(stack: Stack, url: str, n: int, latency: int, work: Path, profile: str) -> list[Figure]:
    control = SandboxControl(url)
    control.reset()
    control.set_faults(latency_ms=latency)
    server_cpu = control.stats()["cpu_seconds"]
    loop = loop_seconds(url, n)
    loop_server_cpu = control.stats()["cpu_seconds"] - server_cpu
    control.reset()
    control.set_faults(latency_ms=latency)
    reads = stack.vault_reads()
    server_cpu = control.stats()["cpu_seconds"]
    first = flow_run(stack.env(url), ["requests"], work / "speed.duckdb", profile)
    reads = stack.vault_reads() - reads
    stats = control.stats()
    server_cpu = stats["cpu_seconds"] - server_cpu
    client_cpu = first["cpu_seconds"]
    served, grants = stats["requests"], stats["grants_total"]
    task = first["result"]["resources"][0]
    pages = math.ceil(n / PER_PAGE)
    ideal = pages * latency / 1000 / CONCURRENCY
    flow_s = first["flow_seconds"]
    # The other resources once, untimed, so that the next run has nothing to do anywhere.
    flow_run(stack.env(url), ["tasks", "users", "processes", "groups"], work / "speed.duckdb")
    control.reset()
    control.set_faults(latency_ms=latency)
    noop = flow_run(stack.env(url), [], work / "speed.duckdb")  # every core resource
    per_route = control.stats()["requests"]
    context = f"{n:,} requests, {TIES} per updated_at, {latency} ms a call, per_page {PER_PAGE}"
    return [
        Figure(NAME, "speedup_vs_loop", loop / flow_s, (">=", 6),
               f"loop {loop:.2f} s vs sync flow {flow_s:.2f} s; {context}"),
        Figure(NAME, "flow_vs_ideal", flow_s / ideal, ("<=", 1.25),
               f"flow {flow_s:.2f} s (sync task {task['seconds']:.2f} s) vs ideal {ideal:.2f} s "
               f"= {pages} pages x {latency} ms / {CONCURRENCY}"),
        Figure(NAME, "pages_vs_needed", served["GET /api/1.0/requests"] / pages, ("<=", 1.05),
               f"{served['GET /api/1.0/requests']} requests for {pages} pages of data"),
        Figure(NAME, "write_share", task["write_seconds"] / task["seconds"], ("<=", 0.10),
               f"{task['write_seconds']:.2f} s in DuckDB of a {task['seconds']:.2f} s sync task"),
        # What bounds the run on this machine: the sandbox and the flow share its cores, so
        # their CPU seconds over the core count is a floor no read plan can go under.
        Figure(NAME, "server_cpu_ms_per_page", 1000 * loop_server_cpu / pages, None,
               f"the sandbox's own CPU per page of {PER_PAGE} (during the loop)"),
        Figure(NAME, "cpu_floor_vs_ideal", (server_cpu + client_cpu) / CORES / ideal, None,
               f"flow process {client_cpu:.2f} s + sandbox {server_cpu:.2f} s of CPU over "
               f"{CORES} cores, vs ideal {ideal:.2f} s"),
        Figure(NAME, "noop_requests_per_resource", max(per_route.values()), ("<=", 1),
               f"nothing changed: {per_route} (flow {noop['flow_seconds']:.2f} s)"),
        Figure(NAME, f"vault_reads_{pages}_pages", reads, ("<=", 1), "OpenBao audit log"),
        Figure(NAME, f"grants_{pages}_pages", grants, ("<=", 1), "sandbox stats"),
    ]  # fmt: skip


def _client_cost(url: str, work: Path, pages: int) -> list[Figure]:
    """The client's own cost per record, in this process, on pages fetched once: parsing
    alone vs parsing, converting and writing to DuckDB; and that cost into a table holding
    10x the records vs 1x (it must not grow with the table)."""
    SandboxControl(url).reset()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {SandboxConfig().pat}"
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
    command = [pm_prefect, "sync", "--resources", "requests", "--destination",
               f"duckdb:///{work / 'speed.duckdb'}"]  # fmt: skip
    hello = whole_process([sys.executable, "-c", HELLO], env, runs)
    noop = whole_process(command, env, runs)
    return Figure(NAME, "noop_process_vs_hello", noop / hello, ("<=", 1.5),
                  f"pm-prefect sync with nothing to do {noop:.1f} s vs hello-world flow "
                  f"{hello:.1f} s, whole processes, medians of {runs}")  # fmt: skip


def _rss(stack: Stack, sizes: tuple[int, int], work: Path) -> Figure:
    """Peak RSS of two first syncs, 10x apart, at per_page 100: the smaller one too has more
    pages than the engine ever holds (about 30), so the ratio shows growth, not buffers
    filling up."""
    peaks = []
    for records in sizes:
        with sandbox_process(SandboxConfig(port=0, records=records, ties=TIES)) as url:
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
