"""``pm-prefect sync`` in a pipe: only our output, a table that fits, one line per error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.stack import PmStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def run_cli(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m flows.cli ARGS`` as a user would start it: its own temporary Prefect."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COLUMNS"))}
    return subprocess.run(
        [sys.executable, "-m", "processmaker_prefect.flows.cli", *args],
        env={**clean, **env, "PREFECT_HOME": str(home)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def test_sync_prints_only_our_table_with_its_title_on_one_line(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    destination = f"duckdb:///{tmp_path / 'a-rather-long-directory-name' / 'pm.duckdb'}"
    done = run_cli(pm_stack.env, tmp_path / "home", "sync", "--resources", "groups",
                   "--destination", destination)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Syncing into {destination}" in done.stdout.splitlines()[0]
    output = done.stdout + done.stderr
    for noise in ("ERROR", "Traceback", "telemetry", "database is locked"):
        assert noise not in output


def test_an_unknown_resource_is_one_line(pm_stack: PmStack, tmp_path: Path) -> None:
    done = run_cli(pm_stack.env, tmp_path / "home", "sync", "--resources", "request")
    assert done.returncode == 1
    assert re.fullmatch(
        r"error ConfigurationError: Unknown resource 'request': did you mean requests\? use a "
        r"list route of ProcessMaker's API \(requests, .*, collection:<id>\)\n",
        done.stderr,
    )
