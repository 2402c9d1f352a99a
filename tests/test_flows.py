"""The Prefect flows on Prefect's embedded server, against OpenBao and the session sandbox."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import requests
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.exceptions import ObjectAlreadyExists
from prefect.logging.handlers import APILogWorker
from prefect.states import State

from processmaker_prefect import ProcessMakerConnection, destination_lock_name, instance_limit_name
from processmaker_prefect.auth import reset_token_providers
from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.flows.call_endpoint import call_endpoint
from processmaker_prefect.flows.healthcheck import HealthcheckFailed, healthcheck
from processmaker_prefect.flows.start_requests import (
    RequestPayload,
    StartRequestsFailed,
    start_requests,
)
from processmaker_prefect.flows.sync import DEFAULT_RESOURCES, SyncFailed, sync
from processmaker_prefect.prefect_layer.instance_limits import reset_instance_limits
from tests.fixtures.stack import PmStack
from tests.test_sync_engine import assert_equal_to_api

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_server")]

LAG = 1


@pytest.fixture
def stack(pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch) -> PmStack:
    monkeypatch.setenv("PROCESSMAKER_SYNC_LAG", str(LAG))
    monkeypatch.setenv("PROCESSMAKER_PAGE_SIZE", "200")
    return pm_stack


def api(stack: PmStack, path: str, **params: Any) -> Any:
    """``GET /api/1.0{path}`` with the sandbox's PAT, outside the code under test."""
    response = requests.get(
        f"{stack.sandbox.url}/api/1.0{path}",
        params=params,
        headers={"Authorization": f"Bearer {stack.sandbox.config.pat}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def artifacts_of(state: State[Any]) -> dict[str, str]:
    """The markdown artifacts of the flow run behind ``state``, by key."""
    run_id = state.state_details.flow_run_id
    assert isinstance(run_id, UUID)
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key: str(a.data) for a in found if a.key}


def assert_no_secret_in_the_run(stack: PmStack, state: State[Any]) -> None:
    """Neither the run's logs, parameters nor artifacts hold a credential value."""
    APILogWorker.drain_all(timeout=5)
    run_id = state.state_details.flow_run_id
    assert isinstance(run_id, UUID)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    assert logs, "the run's logs reached the API"
    text = "\n".join(
        [*(log.message for log in logs), repr(run.parameters), *artifacts_of(state).values()]
    )
    for secret in stack.secret_values():
        assert secret not in text


# -- sync ----------------------------------------------------------------------------------


def test_sync_flow_copies_every_resource_and_a_rerun_moves_nothing(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    time.sleep(LAG + 1)  # other tests may have just changed the shared sandbox
    state = sync(destination=f"duckdb:///{database}", return_state=True)
    assert state.is_completed()
    result = state.result()
    assert [r["resource"] for r in result["resources"]] == list(DEFAULT_RESOURCES)
    assert_equal_to_api(stack, database, DEFAULT_RESOURCES)
    report = artifacts_of(state)["processmaker-sync"]
    assert "| requests |" in report
    assert stack.control.stats()["grants"] == {"password": 1}

    assert_no_secret_in_the_run(stack, state)

    stack.control.reset()
    again = sync(destination=f"duckdb:///{database}")
    assert [r["rows"] for r in again["resources"]] == [0] * len(DEFAULT_RESOURCES)
    assert stack.control.stats()["requests_total"] == len(DEFAULT_RESOURCES)


def test_sync_flow_full_refresh_rebuilds_and_equals(stack: PmStack, tmp_path: Path) -> None:
    database = tmp_path / "pm.duckdb"
    time.sleep(LAG + 1)
    sync(resources=["groups", "processes"], destination=f"duckdb:///{database}")
    result = sync(
        resources=["groups", "processes"], destination=f"duckdb:///{database}", full_refresh=True
    )
    totals = {n: api(stack, f"/{n}", per_page=1)["meta"]["total"] for n in ("groups", "processes")}
    assert {r["resource"]: r["rows"] for r in result["resources"]} == totals
    assert all(r["full_refresh"] for r in result["resources"])
    assert_equal_to_api(stack, database, ["groups", "processes"])


def test_a_failing_resource_does_not_stop_the_others_and_fails_the_run(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    time.sleep(LAG + 1)
    state = sync(
        resources=["groups"], collection_records=[999], destination=f"duckdb:///{database}",
        return_state=True,
    )  # fmt: skip
    assert state.is_failed()
    with pytest.raises(
        SyncFailed, match=r"1 of 2 resources failed \(first: collection:999: ProcessMakerNotFound"
    ):
        state.result()
    assert_equal_to_api(stack, database, ["groups"])
    report = artifacts_of(state)["processmaker-sync"]
    assert "| collection:999 | - | - | - | - | - | failed (below) |" in report
    assert "- **collection:999**: ProcessMakerNotFoundError: GET /api/1.0/collections" in report


def test_sync_flow_left_at_the_default_destination_uses_a_file_per_instance(
    stack: PmStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the default lives in the home: this test's
    time.sleep(LAG + 1)
    result = sync(resources=["groups"])
    host = stack.sandbox.url.split("://")[1].replace(":", "_")
    file = tmp_path / "processmaker-prefect" / f"{host}.duckdb"
    assert result["destination"] == f"duckdb:///~/processmaker-prefect/{host}.duckdb"
    assert file.exists()
    assert_equal_to_api(stack, file, ["groups"])


def test_a_credential_failure_stops_the_run_at_the_first_resource(
    stack: PmStack, tmp_path: Path
) -> None:
    stack.put(**{**stack.password_credentials(), "password": "wrong-password-value"})
    state = sync(destination=f"duckdb:///{tmp_path / 'pm.duckdb'}", return_state=True)
    with pytest.raises(
        SyncFailed,
        match=r"^1 of 5 resources failed \(first: requests: TokenRejectedError: .*invalid_grant"
        r".*; 0 synced, 4 not tried; see the artifact$",
    ):
        state.result()
    assert stack.control.stats()["requests_total"] == 0  # no API call for the other four


def test_missing_settings_fail_the_run_before_any_task(
    stack: PmStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROCESSMAKER_SECRET")
    with pytest.raises(ConfigurationError, match="PROCESSMAKER_SECRET is required"):
        sync(destination=f"duckdb:///{tmp_path / 'pm.duckdb'}")
    assert not (tmp_path / "pm.duckdb").exists()


def test_sync_flow_rejects_an_unknown_resource_before_writing(
    stack: PmStack, tmp_path: Path
) -> None:
    database = tmp_path / "pm.duckdb"
    # The form offers only the tables; Python and the CLI may name any list route, so the
    # name is checked by the catalogue, in one line, before anything is written.
    with pytest.raises(
        ConfigurationError, match="Unknown resource 'request': did you mean requests"
    ):
        sync(resources=["request"], destination=f"duckdb:///{database}")
    assert not database.exists()
    assert stack.control.stats()["requests_total"] == 0


# -- start_requests ------------------------------------------------------------------------


def _process_and_event(stack: PmStack) -> tuple[int, str]:
    process = api(stack, "/processes/1", include="events")
    return int(process["id"]), str(process["events"][0]["id"])


def test_start_requests_starts_exactly_one_request_per_payload(stack: PmStack) -> None:
    process_id, event = _process_and_event(stack)
    before = api(stack, "/requests", per_page=1)["meta"]["total"]
    payloads = [RequestPayload(label=f"p{i}", data={"amount": i}) for i in range(3)]
    state = start_requests(process_id, event, payloads, return_state=True)
    assert state.is_completed()
    report = state.result()
    assert api(stack, "/requests", per_page=1)["meta"]["total"] == before + 3
    ids = [row["request_id"] for row in report]
    assert [row["payload"] for row in report] == ["p0", "p1", "p2"]
    assert len(set(ids)) == 3
    for index, ident in enumerate(ids):
        started = api(stack, f"/requests/{ident}", include="data")
        assert started["process_id"] == process_id
        assert started["data"]["amount"] == index
    markdown = artifacts_of(state)["processmaker-start-requests"]
    assert all(f"| {ident} |" in markdown for ident in ids)


def test_start_requests_reports_a_failing_payload_and_fails_the_run(stack: PmStack) -> None:
    process_id, _ = _process_and_event(stack)
    before = api(stack, "/requests", per_page=1)["meta"]["total"]
    payloads = [RequestPayload(label="bad event", data={"amount": 1})]
    state = start_requests(process_id, "no_such_event", payloads, return_state=True)
    assert state.is_failed()
    with pytest.raises(StartRequestsFailed, match=r"1 of 1 payloads .*bad event.*404"):
        state.result()
    assert api(stack, "/requests", per_page=1)["meta"]["total"] == before
    markdown = artifacts_of(state)["processmaker-start-requests"]
    assert "| bad event | - | failed (below) |" in markdown
    assert "- **bad event**: ProcessMakerNotFoundError: POST /api/1.0/process\\_events/" in markdown
    # Sent once: a refused start is reported, never retried.
    assert stack.control.stats()["requests"]["POST /api/1.0/process_events/{process_id}"] == 1


# -- call_endpoint -------------------------------------------------------------------------


def test_call_endpoint_returns_the_body(stack: PmStack) -> None:
    state = call_endpoint("/requests", query={"per_page": 3, "order_by": "id"}, return_state=True)
    body = state.result()
    assert body == api(stack, "/requests", per_page=3, order_by="id")
    assert "3 rows on this page" in artifacts_of(state)["processmaker-call-endpoint"]


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/api/1.0/requests",
        "//evil.example/requests",
        "/requests/../../oauth/token",
        "/requests/%2e%2e/%2E%2E/oauth/token",
        "requests",
    ],
)
def test_call_endpoint_refuses_paths_outside_the_api(stack: PmStack, path: str) -> None:
    with pytest.raises(ConfigurationError, match=r"path must be a route under /api/1\.0"):
        call_endpoint(path)
    assert stack.control.stats()["requests_total"] == 0
    assert stack.control.stats()["grants_total"] == 0


# -- healthcheck ---------------------------------------------------------------------------


def test_healthcheck_passes_every_check(stack: PmStack) -> None:
    results = healthcheck()
    assert [r["name"] for r in results if not r["ok"]] == []
    assert {"token", "api"} <= {r["name"] for r in results}


def test_healthcheck_fails_with_a_wrong_password_in_vault(stack: PmStack) -> None:
    stack.put(**{**stack.password_credentials(), "password": "not-the-password"})
    reset_token_providers()
    state = healthcheck(return_state=True)
    assert state.is_failed()
    with pytest.raises(HealthcheckFailed, match=r"token check failed: .*"):
        state.result()
    assert "FAIL" in artifacts_of(state)["processmaker-health"]


@pytest.mark.parametrize(
    "url",
    ["postgresql://etl:hunter22@db.example.com/pm", "postgresql://db/pm?password=hunter22"],
)
def test_a_password_in_the_destination_url_is_refused_before_anything_runs(url: str) -> None:
    with pytest.raises(ConfigurationError, match="PGPASSWORD") as caught:
        sync.fn(destination=url)
    assert "hunter22" not in str(caught.value)


# -- what an operator sees: blocks, run and task names, logs, artifacts, limits -------------


def run_logs(state: State[Any]) -> list[str]:
    APILogWorker.drain_all(timeout=5)
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    return [log.message for log in logs]


@pytest.fixture
def block(stack: PmStack) -> str:
    """A saved connection to the sandbox; the environment's secret is made useless."""
    ProcessMakerConnection(url=stack.sandbox.url, secret=stack.path).save(
        "flows-sandbox", overwrite=True
    )
    return "flows-sandbox"


def test_a_connection_given_by_name_is_the_saved_block(
    stack: PmStack, block: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_SECRET", "secret/no/such/path")
    reset_token_providers()
    state = call_endpoint("/users/1", connection=block, return_state=True)
    assert state.result()["id"] == 1
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == f"GET /users/1 on {block}"
    assert run.parameters["connection"] == block  # a reference, not the block's fields


def test_an_unknown_connection_name_fails_in_one_line_naming_the_blocks(
    stack: PmStack, block: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        call_endpoint("/users/1", connection="flows-sandbx")
    message = str(caught.value)
    assert message.startswith("No ProcessMaker Connection block named 'flows-sandbx'; use one of")
    assert block in message
    assert "\n" not in message
    assert stack.control.stats()["requests_total"] == 0


def test_start_requests_names_its_task_runs_and_logs_each_request(stack: PmStack) -> None:
    process_id, event = _process_and_event(stack)
    payloads = [RequestPayload(label="first {x}", data={"amount": 1})]
    state = start_requests(process_id, event, payloads, return_state=True)
    request_id = state.result()[0]["request_id"]
    assert f"first {{x}}: started request {request_id}" in run_logs(state)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert [r.name for r in runs] == [f"start process {process_id}: first {{x}}"]
    assert flow_run.name == f"start process {process_id} on environment"


def test_healthcheck_logs_each_check_and_escapes_the_masks(stack: PmStack) -> None:
    state = healthcheck(return_state=True)
    results = state.result()
    logs = run_logs(state)
    for result in results:
        assert any(line.startswith(f"ok   {result['name']} ") for line in logs), result["name"]
    report = artifacts_of(state)["processmaker-health"]
    assert "client\\_id=\\*\\*\\*\\*" in report
    assert re.search(r"(?<!\\)\*", report) is None  # no bare asterisk: nothing turns bold


def test_a_long_failure_is_a_paragraph_under_the_health_table(stack: PmStack) -> None:
    stack.put(**{**stack.password_credentials(), "password": "not-the-password"})
    reset_token_providers()
    state = healthcheck(return_state=True)
    report = artifacts_of(state)["processmaker-health"]
    assert "| token | FAIL | see below |" in report
    assert "### Failed check\n\n- **token**: TokenRejectedError: POST" in report


def test_call_endpoint_summarizes_a_list_page_as_a_table(stack: PmStack) -> None:
    state = call_endpoint("/requests", query={"per_page": 3, "order_by": "id"}, return_state=True)
    report = artifacts_of(state)["processmaker-call-endpoint"]
    assert "3 rows on this page (page 1 of" in report
    assert report.count("\n| ") == 4  # header and three rows
    assert "links" not in report
    assert "```" not in report


def test_a_sync_finding_its_destination_busy_is_cancelled(stack: PmStack, tmp_path: Path) -> None:
    database = tmp_path / "busy.duckdb"
    destination = f"duckdb:///{database}"
    name = destination_lock_name(destination)
    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        held = client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=60
        ).json()
    try:
        state = sync(resources=["groups"], destination=destination, return_state=True)
    finally:
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(held["lease_id"])
    assert state.is_cancelled()
    assert f"Another sync of {destination} is running" in str(state.message)
    assert not database.exists()
    assert stack.control.stats()["requests_total"] == 0
    assert sync(resources=["groups"], destination=destination)["resources"][0]["rows"] > 0


def test_calls_to_an_instance_hold_a_slot_of_its_prefect_limit(
    stack: PmStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_PAGE_SIZE", "50")
    monkeypatch.setenv("PROCESSMAKER_MAX_CONCURRENCY", "4")
    time.sleep(LAG + 1)
    stack.control.set_faults(latency_ms=40)
    name = instance_limit_name(stack.sandbox.url)
    reset_instance_limits()
    sync(resources=["requests"], destination=f"duckdb:///{tmp_path / 'free.duckdb'}")
    assert stack.control.stats()["max_in_flight"] > 1  # the control: unlimited, it overlaps
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    try:
        reset_instance_limits()
        stack.control.reset()
        stack.control.set_faults(latency_ms=40)
        result = sync(resources=["requests"], destination=f"duckdb:///{tmp_path / 'one.duckdb'}")
        assert result["resources"][0]["pages"] > 1
        assert stack.control.stats()["max_in_flight"] == 1
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)
        reset_instance_limits()
