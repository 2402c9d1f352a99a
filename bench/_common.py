"""What every benchmark shares: timing by median, comparisons, a rich table, a sandbox process.

A benchmark module exposes ``NAME`` and ``run(quick: bool) -> list[Comparison]``; the runner
(``python -m bench``) prints each comparison as a table row and as one ``ratio`` line, the
stable text that ``tests/test_bench.py`` looks for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from processmaker_prefect.sandbox.config import SandboxConfig

__all__ = [
    "Comparison",
    "Figure",
    "PatAuth",
    "figure_line",
    "median_of",
    "median_seconds",
    "print_comparisons",
    "print_figures",
    "ratio_line",
    "sandbox_process",
    "timed",
]

console = Console(highlight=False)


def timed(work: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``work``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def median_of(measure: Callable[[], float], repeat: int) -> float:
    """The median of ``repeat`` calls of ``measure``, which times its own work (in seconds).

    For work with a setup that must stay out of the timing, e.g. opening a fresh database.
    """
    return statistics.median(measure() for _ in range(max(1, repeat)))


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls of ``work``."""
    return median_of(lambda: timed(work), repeat)


@dataclass(frozen=True)
class Comparison:
    """A baseline and a candidate, each a throughput (higher is better) in ``unit``.

    Attributes:
        bench: The benchmark module's name, e.g. ``destinations``.
        key: What is compared, e.g. ``arrow_vs_rows``; unique within the benchmark.
        baseline: Label of the baseline, e.g. ``row-by-row INSERT (2,000 rows)``.
        baseline_rate: Its throughput.
        candidate: Label of the candidate.
        candidate_rate: Its throughput.
        unit: The throughput's unit, e.g. ``rows/s``.
        note: One line of context (what the numbers include, what was skipped).
    """

    bench: str
    key: str
    baseline: str
    baseline_rate: float
    candidate: str
    candidate_rate: float
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float:
        """Candidate throughput over baseline throughput: above 1 means faster."""
        return self.candidate_rate / self.baseline_rate if self.baseline_rate else float("nan")


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its goal, e.g. ``pages / ceil(records / page size)``.

    Attributes:
        bench: The benchmark module's name.
        key: What is measured; unique within the benchmark.
        value: The figure (a ratio of two things measured in the same run, or a count).
        goal: ``("<=", 1.25)`` or ``(">=", 6)``; None when the figure is informative only.
        note: What the two sides were, in numbers.
    """

    bench: str
    key: str
    value: float
    goal: tuple[str, float] | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.value != self.value:
            return None
        op, target = self.goal
        return self.value <= target if op == "<=" else self.value >= target

    @property
    def goal_text(self) -> str:
        return "-" if self.goal is None else f"{self.goal[0]} {self.goal[1]:g}"


def figure_line(item: Figure) -> str:
    """The one stable line per figure: ``figure <bench>.<key>: <value> (goal ...) met``."""
    if item.value != item.value:
        return f"figure {item.bench}.{item.key}: skipped"
    verdict = {True: "met", False: "MISSED", None: "info"}[item.met]
    return f"figure {item.bench}.{item.key}: {item.value:.3g} (goal {item.goal_text}) {verdict}"


def print_figures(title: str, items: list[Figure]) -> None:
    """A table of figure, value, goal and verdict, then the ``figure`` lines with notes."""
    table = Table(title=title, title_justify="left")
    for name, justify in (("figure", "left"), ("value", "right"), ("goal", "right"), ("", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for item in items:
        verdict = {True: "met", False: "MISSED", None: ""}[item.met]
        value = "skipped" if item.value != item.value else f"{item.value:.3g}"
        table.add_row(item.key, value, item.goal_text, verdict)
    console.print(table)
    for item in items:
        print(figure_line(item), flush=True)
        if item.note:
            console.print(f"  note: {item.note}", soft_wrap=True)


def ratio_line(item: Comparison) -> str:
    """The one stable line per comparison: ``ratio <bench>.<key>: <x>x (<unit>)``."""
    if item.ratio != item.ratio:  # NaN: the candidate was skipped
        return f"ratio {item.bench}.{item.key}: skipped"
    return f"ratio {item.bench}.{item.key}: {item.ratio:.2f}x ({item.unit})"


def _rate(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"


def print_comparisons(title: str, items: list[Comparison]) -> None:
    """A table of baseline, candidate and ratio, then the ``ratio`` lines and the notes."""
    table = Table(title=title, title_justify="left")
    table.add_column("comparison")
    table.add_column("baseline")
    table.add_column("candidate")
    table.add_column("ratio", justify="right")
    for item in items:
        table.add_row(
            item.key,
            f"{item.baseline}\n{_rate(item.baseline_rate, item.unit)}",
            f"{item.candidate}\n{_rate(item.candidate_rate, item.unit)}",
            "skipped" if item.ratio != item.ratio else f"{item.ratio:,.2f}x",
        )
    console.print(table)
    for item in items:
        # print, not rich: rich wraps long lines at the terminal width, and this one is parsed.
        print(ratio_line(item), flush=True)
        if item.note:
            console.print(f"  note: {item.note}", soft_wrap=True)


class PatAuth(requests.auth.AuthBase):
    """Bearer auth with a fixed personal access token: the sandbox's demo PAT, no Vault."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


# The child: start the sandbox, print its URL, serve until stdin closes (parent done or dead).
# TCP_NODELAY: SandboxServer binds its socket with proto 0, so asyncio does not set it on
# accepted connections, and every small response then waits ~40 ms for a delayed ACK
# (reported to the lead). A real ProcessMaker does not; set it here so the benchmarks
# measure the client, not that artifact. Harmless once sandbox/server.py sets it itself.
_CHILD = """
import json, socket, sys
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
server = SandboxServer(SandboxConfig(**json.loads(sys.argv[1])))
server._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
with server.start():
    print(server.url, flush=True)
    sys.stdin.read()
"""


SANDBOX_PIDS: dict[str, int] = {}  # base URL -> process id, of the sandboxes running


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox_process(config: SandboxConfig) -> Iterator[str]:
    """Serve a sandbox in a child process (give ``port=0``); yield its base URL.

    A separate process, not ``SandboxServer``'s thread: in one process the server and the
    client share the GIL, so a concurrent client would be measured against a server that
    it slows down itself. A real ProcessMaker runs elsewhere.
    """
    argv = [sys.executable, "-c", _CHILD, json.dumps(dataclasses.asdict(config))]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = ""
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the benchmark sandbox did not start (exit {process.poll()})")
        SANDBOX_PIDS[url] = process.pid
        yield url
    finally:
        SANDBOX_PIDS.pop(url, None)
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
