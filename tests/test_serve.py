"""``pm-prefect serve`` against a real ``prefect server start``: every deployment of the
packaged prefect.yaml with its schedules, served from one process started outside the
checkout, with the package imported from the built wheel; a run of the sync completes.

The server is this module's own (SQLite): stopping ``serve`` pauses its schedules, which
must not touch the deployments other modules check on the session's server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from processmaker_prefect.flows.deployments import deployment_configs
from tests.fixtures.prefect_server import BIN, prefect_rest, prefect_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("serve-prefect-home")
    outside = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    with prefect_server(home, outside) as env:
        yield env


def wait_for(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := probe():
                return found
        except OSError:  # e.g. a 503 while the SQLite server is busy: ask again
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_runs_every_deployment_with_its_schedule_from_one_process(
    own_prefect_api: dict[str, str],
    pm_env: dict[str, str],
    installed_wheel: Path,
    tmp_path: Path,
) -> None:
    api = own_prefect_api
    env = {
        **api,
        **pm_env,
        "PYTHONPATH": str(installed_wheel),  # the package from the wheel, not the checkout
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
    }
    expected = {c["name"]: c for c in deployment_configs()}
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [str(BIN / "pm-prefect"), "serve"],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def served() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = prefect_rest(api, "POST", "/deployments/filter", {})
            return found if len(found) == len(expected) else []

        deployments = wait_for("the served deployments", served, 240)
        by_name = {d["name"]: d for d in deployments}
        assert set(by_name) == set(expected)
        for name, config in expected.items():
            crons = [s["schedule"]["cron"] for s in by_name[name]["schedules"]]
            assert crons == [s["cron"] for s in config.get("schedules") or []]
            # Served by module path (module.flow: serve runs no pull step).
            assert by_name[name]["entrypoint"] == config["entrypoint"].replace(":", ".")
            assert by_name[name]["work_pool_name"] is None  # served here, not by a worker
        assert by_name["reconcile"]["parameters"] == {"reconcile": True}

        destination = tmp_path / "served.duckdb"
        run = prefect_rest(
            api,
            "POST",
            f"/deployments/{by_name['sync']['id']}/create_flow_run",
            {"parameters": {"destination": f"duckdb:///{destination}", "resources": ["users"]}},
        )

        def finished() -> dict[str, Any] | None:
            state: dict[str, Any] = prefect_rest(api, "GET", f"/flow_runs/{run['id']}")["state"]
            return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED") else None

        state = wait_for("the served sync run", finished, 240)
        assert state["type"] == "COMPLETED", state
        with duckdb.connect(str(destination), read_only=True) as con:
            (count,) = con.execute("select count(*) from users").fetchone() or (0,)
        assert count > 0
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
    output = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]
