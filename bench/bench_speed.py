"""Benchmark: the ``sync`` flow at API speed, each figure beside its goal (issue 9).

A sandbox in its own process serves requests whose ``updated_at`` values are lumpy (14
records per timestamp, as bulk imports leave them), evaluates PMQL and counts
``meta.total`` on every list call, and answers each API call after ``latency_ms``. The
credentials live in an OpenBao dev server whose audit log counts the Vault reads. Every
flow run is a fresh process (``bench._flow_child``) with its own ``PREFECT_HOME``, so it
starts cold as a scheduled run does. Figures, all measured in this one run:

* speed-up: a hand-written sequential ``requests.Session`` page loop ÷ the ``sync`` flow;
* the ``sync`` flow ÷ the ideal (pages x latency / concurrency);
* requests to the route ÷ ceil(records ÷ page size);
* time in the destination ÷ the sync task's time (writes overlap fetching);
* a run with nothing changed: API requests per resource;
* Vault reads (audit log) and token grants (sandbox stats) per run, for 10 to 1,000 pages;
* ``pm-prefect sync`` with nothing to do ÷ a hello-world flow, both whole processes;
* peak RSS of a first sync of 10x the records (100,000 vs 10,000; ``--rss-large``: 1,000,000
  vs 100,000), full run only, at the end.

Run alone with ``python -m bench.bench_speed [--quick] [--profile FILE] [--rss-large]``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench._common import Figure, print_figures, sandbox_process
from sandbox.config import SandboxConfig
from sandbox.net import free_port
from sandbox.openbao import DevVault, find_bao
from tests.fixtures.sandbox import SandboxControl

NAME = "speed"
PER_PAGE, CONCURRENCY, TIES, RSS_PAGE = 500, 8, 14, 100
SECRET = "secret/processmaker/bench"
ROOT = Path(__file__).resolve().parent.parent


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
    return Plan(50_000, 50, runs, 1, large)


class AuditedVault(DevVault):
    """``bao server -dev`` with a file audit device declared in a config file: OpenBao 2
    refuses to enable audit devices through the API."""

    def __init__(self, audit: Path) -> None:
        super().__init__()
        self.audit = audit
        self.config = audit.with_suffix(".hcl")
        self.config.write_text(
            f'audit "file" "bench" {{\n  options {{\n    file_path = "{audit}"\n  }}\n}}\n'
        )

    def start(self) -> AuditedVault:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        self._process = subprocess.Popen(
            [find_bao(), "server", "-dev", f"-dev-root-token-id={self.token}",
             f"-dev-listen-address=127.0.0.1:{self.port}", f"-config={self.config}"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("bao server -dev with an audit device did not start")
            time.sleep(0.1)
        return self


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free port with its own home; yields its API URL.

    The flow runs share it, so each does not pay an ephemeral server's start (and, with a
    cold home, its database migration); the whole-process comparison runs without it.
    """
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home / ".prefect-server")}
    env.pop("PREFECT_API_URL", None)
    prefect = str(Path(sys.executable).parent / "prefect")
    process = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"{api}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prefect server start did not come up")
            time.sleep(0.5)
        yield api
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Stack:
    """OpenBao with an audit log, the credentials in it, and the environment of a user."""

    def __init__(self, vault: AuditedVault, home: Path, api: str) -> None:
        self.vault, self.audit, self.home, self.api = vault, vault.audit, home, api
        config = SandboxConfig()
        vault.put(SECRET.removeprefix("secret/"), {
            "client_id": config.client_id, "client_secret": config.client_secret,
            "username": config.username, "password": config.password,
        })  # fmt: skip

    def env(self, url: str, per_page: int = PER_PAGE, *, ephemeral: bool = False) -> dict[str, str]:
        """A user's environment; ``ephemeral``: no server, as ``pm-prefect`` runs by default."""
        server = {} if ephemeral else {"PREFECT_API_URL": self.api}
        return {
            **server,
            "PATH": os.environ.get("PATH", ""), "HOME": str(self.home),
            "PREFECT_HOME": str(self.home / ".prefect"), "PYTHONPATH": str(ROOT),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # A cold PREFECT_HOME migrates its database first: slow on a busy machine.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
            "PROCESSMAKER_URL": url, "PROCESSMAKER_SECRET": SECRET,
            "VAULT_ADDR": self.vault.addr, "VAULT_TOKEN": self.vault.token,
            "PROCESSMAKER_PAGE_SIZE": str(per_page),
            "PROCESSMAKER_MAX_CONCURRENCY": str(CONCURRENCY),
        }  # fmt: skip

    def vault_reads(self) -> int:
        """Reads of the secret's KV path, from OpenBao's own audit log (requests only)."""
        if not self.audit.exists():
            return 0
        count = 0
        for line in self.audit.read_text().splitlines():
            entry = json.loads(line)
            request = entry.get("request") or {}
            if (
                entry.get("type") == "request"
                and request.get("operation") == "read"
                and str(request.get("path", "")).startswith("secret/data/")
            ):
                count += 1
        return count


def flow_run(env: dict[str, str], resources: list[str], database: Path, profile: str = "") -> Any:
    """One ``sync`` flow run in a fresh process; its timings and result."""
    args = {"resources": resources, "destination": f"duckdb:///{database}", "profile": profile}
    done = subprocess.run(
        [sys.executable, "-m", "bench._flow_child", json.dumps(args)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"flow run failed ({done.returncode}): {done.stderr[-2000:]}")


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


def whole_process(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=300,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.decode()[-1500:]}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


HELLO = "from prefect import flow\n@flow\ndef hello():\n    return 1\nhello()\n"


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
    loop = loop_seconds(url, n)
    control.reset()
    control.set_faults(latency_ms=latency)
    reads = stack.vault_reads()
    first = flow_run(stack.env(url), ["requests"], work / "speed.duckdb", profile)
    reads = stack.vault_reads() - reads
    stats = control.stats()
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
        Figure(NAME, "noop_requests_per_resource", max(per_route.values()), ("<=", 1),
               f"nothing changed: {per_route} (flow {noop['flow_seconds']:.2f} s)"),
        Figure(NAME, f"vault_reads_{pages}_pages", reads, ("<=", 1), "OpenBao audit log"),
        Figure(NAME, f"grants_{pages}_pages", grants, ("<=", 1), "sandbox stats"),
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
