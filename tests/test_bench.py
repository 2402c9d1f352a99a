"""Smoke test of the benchmarks: ``python -m bench --quick`` runs and reports every ratio
and the speed benchmark's figures.

It asserts no timing (the machines are shared and noisy): only that each benchmark ran to
the end and printed its ``ratio`` line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("destinations", "sync", "tokens")


@pytest.mark.slow
@pytest.mark.integration
def test_quick_run_prints_a_ratio_line_per_benchmark() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in BENCHMARKS:
        pattern = rf"^ratio {name}\.\w+: (\d[\d,]*\.\d\dx \(.+\)|skipped)$"
        assert re.search(pattern, done.stdout, re.MULTILINE), f"no ratio line for {name}"
    # The speed benchmark prints figures beside goals; their values are not asserted.
    figure = r"^figure speed\.\w+: (\S+ \(goal [<>]= \S+\) (met|MISSED|info)|skipped)$"
    assert len(re.findall(figure, done.stdout, re.MULTILINE)) >= 5, done.stdout[-3000:]
