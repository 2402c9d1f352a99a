"""The library's warnings and errors in the flow run's log, read back from a real Prefect
server's API, with and without PREFECT_LOGGING_EXTRA_LOGGERS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.prefect_server import prefect_rest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A user's flow: it uses the library, whose breaker opens in a task (an ERROR of
# processmaker_prefect.api.breaker), and whose fetch threads log from a pool (the engine's
# page reads run there). Nothing in it mentions logging setup.
FLOW = """
import logging
import sys

from prefect import flow, task

from processmaker_prefect import ProcessMakerConnection  # the library, as a user imports it
from processmaker_prefect.api import breaker_for
from processmaker_prefect.api.concurrent import ordered_map

pages = logging.getLogger("processmaker_prefect.api.page_reads")


@task
def call_a_dead_instance():
    breaker = breaker_for("http://127.0.0.1:9", threshold=2, cooldown=60)
    breaker.record_failure("GET /api/1.0/users -> connection refused")
    breaker.record_failure("GET /api/1.0/users -> connection refused")
    logging.getLogger("processmaker_prefect.api.breaker").info("an info line stays out")
    list(ordered_map(lambda page: pages.warning("page %d re-read", page), iter([7, 8]), 2))


@flow
def user_flow():
    logging.getLogger("processmaker_prefect.auth.shared").warning("token sharing degraded")
    call_a_dead_instance()


if __name__ == "__main__":
    state = user_flow(return_state=True)
    print(state.state_details.flow_run_id)
"""


def run_flow(env: dict[str, str], tmp_path: Path, **extra: str) -> str:
    script = tmp_path / "user_flow.py"
    script.write_text(FLOW)
    clean = {k: v for k, v in env.items() if k != "PREFECT_LOGGING_EXTRA_LOGGERS"}
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**clean, **extra}, cwd=tmp_path, capture_output=True, text=True, timeout=240,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def run_log(env: dict[str, str], flow_run_id: str) -> list[dict[str, Any]]:
    query = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"}
    logs: list[dict[str, Any]] = prefect_rest(env, "POST", "/logs/filter", query)
    return logs


def ours(logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return sorted(
        (log["name"], log["level"], log["message"])
        for log in logs
        if log["name"].startswith("processmaker_prefect")
    )


EXPECTED = [
    ("processmaker_prefect.api.breaker", 40, "ProcessMaker at http://127.0.0.1:9 looks down"),
    ("processmaker_prefect.api.page_reads", 30, "page 7 re-read"),
    ("processmaker_prefect.api.page_reads", 30, "page 8 re-read"),
    ("processmaker_prefect.auth.shared", 30, "token sharing degraded"),
]


def matches(found: list[tuple[str, int, str]]) -> bool:
    return len(found) == len(EXPECTED) and all(
        name == e_name and level == e_level and message.startswith(e_start)
        for (name, level, message), (e_name, e_level, e_start) in zip(found, EXPECTED, strict=True)
    )


@pytest.mark.parametrize(
    "extra_loggers", ["", "processmaker_prefect", "processmaker_prefect.api.page_reads"]
)
def test_warnings_and_errors_reach_the_run_log_once(
    prefect_api: dict[str, str], tmp_path: Path, extra_loggers: str
) -> None:
    extra = {"PREFECT_LOGGING_EXTRA_LOGGERS": extra_loggers} if extra_loggers else {}
    flow_run_id = run_flow(prefect_api, tmp_path, **extra)
    found: list[tuple[str, int, str]] = []
    deadline = time.monotonic() + 30  # the API log worker may still be writing
    while time.monotonic() < deadline:
        found = ours(run_log(prefect_api, flow_run_id))
        if len(found) >= len(EXPECTED):
            break
        time.sleep(1)
    time.sleep(1)
    found = ours(run_log(prefect_api, flow_run_id))
    assert matches(found), found
