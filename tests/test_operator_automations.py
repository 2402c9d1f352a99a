"""The token-refused automation checks the credential that was refused (issue 22, item 6).

A real ``prefect server start`` with the deployments of prefect.yaml and the automations
loaded by ``pm-prefect automations``. The refusal is posted to the server's event API as our
event sink sends it (the event itself, with its block label, comes from a refused grant in
tests/test_operator_flows.py); no worker runs here, so the healthcheck run the automation
creates stays scheduled and its parameters are what is checked.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fixtures.prefect_server import ROOT, prefect_rest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAKE_BLOCK = """
from prefect.blocks.notifications import CustomWebhookNotificationBlock
CustomWebhookNotificationBlock(name="operator-alerts", url="http://127.0.0.1:9/hook",
                               json_data={"body": "{{body}}"}).save("operator-alerts",
                                                                     overwrite=True)
"""


def refused(block: str | None) -> dict[str, Any]:
    """``processmaker.token.refused`` as a run on ``block`` (or the environment) emits it."""
    resource = {
        "prefect.resource.id": "processmaker.instance.https://pm-east.example.com",
        "prefect.resource.name": "pm-east.example.com",
        "processmaker.grant": "password",
    }
    if block:
        resource["processmaker.block"] = block
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "processmaker.token.refused",
        "resource": resource,
        "related": [],
        "payload": {"grant": "password", "cause": "invalid_grant", "status": 400},
    }


def healthcheck_runs(env: dict[str, str], deployment_id: str) -> list[dict[str, Any]]:
    query = {"deployments": {"id": {"any_": [deployment_id]}}}
    found: list[dict[str, Any]] = prefect_rest(env, "POST", "/flow_runs/filter", query)
    return [run for run in found if not run["auto_scheduled"]]  # not the hourly schedule's


def test_the_token_refused_automation_checks_the_refused_blocks_credential(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]]
) -> None:
    env = prefect_api
    made = subprocess.run([sys.executable, "-c", MAKE_BLOCK], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    loaded = subprocess.run(
        [sys.executable, "-m", "processmaker_prefect.flows.cli", "automations", "--notify",
         "custom-webhook/operator-alerts"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "processmaker-token-refused-healthcheck" in loaded.stdout
    assert "skip processmaker-token-refused-healthcheck" not in " ".join(loaded.stdout.split())
    deployment_id = next(d["id"] for d in deployments if d["name"] == "healthcheck")
    before = {r["id"] for r in healthcheck_runs(env, deployment_id)}

    prefect_rest(env, "POST", "/events", [refused("pm-east"), refused(None)])

    deadline = time.monotonic() + 120
    new: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(new) < 2:
        new = [r for r in healthcheck_runs(env, deployment_id) if r["id"] not in before]
        time.sleep(1)
    parameters = sorted((r["parameters"] for r in new), key=lambda p: str(p.get("connection")))
    # The block that was refused, by name; the environment ("" = none) for the other.
    assert parameters == [
        {"every_block": False, "connection": ""},
        {"every_block": False, "connection": "pm-east"},
    ]
    for run in new:
        prefect_rest(env, "DELETE", f"/flow_runs/{run['id']}")
