"""A sync killed with SIGKILL mid-run keeps rows and watermark in agreement; a rerun heals it.

``pm-prefect sync`` runs in a real subprocess (against the session's embedded Prefect
server) while the sandbox answers slowly; the test kills it once requests are being served.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.settings import get_current_settings

from processmaker_prefect import destination_lock_name
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.sync import covers
from tests.fixtures.stack import PmStack
from tests.test_sync_engine import api_snapshot, assert_equal_to_api, dest_snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

LAG = 1
RESOURCES = ["requests", "tasks"]


def _pm_prefect() -> str:
    found = shutil.which("pm-prefect", path=str(Path(sys.executable).parent))
    assert found, "pm-prefect is not installed in this environment (pip install -e .)"
    return found


def _environment(stack: PmStack, home: Path) -> dict[str, str]:
    api_url = get_current_settings().api.url
    assert api_url, "the prefect_server fixture sets the API URL"
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "PREFECT_API_URL": api_url,
        **stack.env,
        "PROCESSMAKER_SYNC_LAG": str(LAG),
        "PROCESSMAKER_PAGE_SIZE": "20",
        "PROCESSMAKER_MAX_CONCURRENCY": "4",
    }


def _sync(env: dict[str, str], database: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [_pm_prefect(), "sync", "--resources", ",".join(RESOURCES)]
    command += ["--destination", f"duckdb:///{database}"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_killed_sync_leaves_a_consistent_destination_and_a_rerun_completes_it(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    database, log = tmp_path / "pm.duckdb", tmp_path / "sync.log"
    env = _environment(pm_stack, tmp_path)
    time.sleep(LAG + 1)  # changes other tests made are older than the lag from here on
    pm_stack.control.set_faults(latency_ms=80)
    process = _sync(env, database, log)
    try:
        deadline = time.monotonic() + 60
        while pm_stack.control.stats()["requests"].get("GET /api/1.0/requests", 0) < 12:
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "the sync never got going: " + log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    pm_stack.control.clear_faults()

    # Killed mid-run: what is stored is exactly what the watermark covers.
    with open_destination(f"duckdb:///{database}") as dest:
        mark = dest.get_watermark("requests")
    assert mark is not None
    stored = dest_snapshot(database, "requests")
    api = api_snapshot(pm_stack.sandbox.url, pm_stack.sandbox.config.pat, "requests")
    covered = {
        ident: stamp
        for ident, stamp in api.items()
        if covers(mark, datetime.fromisoformat(stamp), ident)
    }
    assert 0 < len(stored) < len(api)
    assert stored == covered

    # The killed run still holds its destination lock: its lease lives on until Prefect expires
    # it (a minute). A rerun now is cancelled, naming the lock; an operator who knows the run
    # is dead frees it at once, as here, and the rerun proceeds.
    busy = _sync(env, database, log)
    assert busy.wait(timeout=120) == 1
    assert "Another sync of" in log.read_text()
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(
            destination_lock_name(f"duckdb:///{database}"),
            GlobalConcurrencyLimitUpdate(active_slots=0),
        )

    # Small pages made the killed run slow; page size does not matter to the rerun.
    rerun = _sync({**env, "PROCESSMAKER_PAGE_SIZE": "500"}, database, log)
    assert rerun.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert_equal_to_api(pm_stack, database, RESOURCES)
