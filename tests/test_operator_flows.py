"""What an operator sees of a flow run: its name, its artifacts, its report.

Runs against the sandbox and an in-process Prefect API (``prefect_server``); the run forms'
schemas are in tests/test_forms.py, the deployments on a real server in test_deployments.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.flow_engine import run_flow

from processmaker_prefect import OFFERED_RESOURCES, ProcessMakerConnection
from processmaker_prefect.api.breaker import reset_breakers
from processmaker_prefect.auth import reset_token_providers
from processmaker_prefect.errors import ProcessMakerNotFoundError
from processmaker_prefect.events import set_event_sink
from processmaker_prefect.flows.call_endpoint import call_endpoint, columns_for, route
from processmaker_prefect.flows.healthcheck import HealthcheckFailed, healthcheck
from processmaker_prefect.flows.run_names import is_generated_name
from processmaker_prefect.flows.sync import sync
from tests.fixtures.stack import PmStack
from tests.test_flows import api, artifacts_of

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_server")]


@pytest.fixture
def stack(pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch) -> PmStack:
    monkeypatch.setenv("PROCESSMAKER_SYNC_LAG", "1")
    return pm_stack


def run_named(flow: Any, name: str, **parameters: Any) -> str:
    """Run ``flow`` as a deployment's worker does: the run exists first, named by the form."""
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow, name=name, parameters=parameters)
    run_flow(flow, flow_run=flow_run, parameters=parameters, return_type="state")
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run.id).name


# -- run names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "generated"),
    [
        ("nu73-margulis-vector", True),  # proposed by the run form (captured in Chromium)
        ("epsilon47-ktaris", True),
        ("psi757-uxbenka", True),
        ("proud-sawfish", True),  # the server's, for a run created without a name
        ("INC-4711 alice", False),
        ("rerun after the outage (bob)", False),
        ("Nachlauf für März", False),
    ],
)
def test_names_prefect_makes_up_are_told_from_typed_ones(name: str, generated: bool) -> None:
    assert is_generated_name(name) is generated


def test_a_name_the_operator_typed_is_kept_with_ours_after_it(stack: PmStack) -> None:
    assert run_named(healthcheck, "INC-4711 alice") == "INC-4711 alice · healthcheck environment"


def test_a_name_the_form_made_up_is_replaced_by_ours(stack: PmStack) -> None:
    assert run_named(healthcheck, "nu73-margulis-vector") == "healthcheck environment"


def test_a_reconcile_run_is_named_reconcile(stack: PmStack, tmp_path: Path) -> None:
    destination = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    name = run_named(sync, "nu2-hoshina-instability", resources=["users"],
                     destination=destination, reconcile=True)  # fmt: skip
    assert name == f"reconcile environment -> {destination}"


# -- the sync report -------------------------------------------------------------------------


def test_a_sync_with_nothing_new_shows_the_stored_watermark(stack: PmStack, tmp_path: Path) -> None:
    destination = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    time.sleep(2)  # past the lag, so the first run takes every user
    first = sync(resources=["users"], destination=destination)["resources"][0]
    assert first["rows"] > 0
    assert first["watermark"]

    state = sync(resources=["users"], destination=destination, return_state=True)
    again = state.result()["resources"][0]
    assert (again["rows"], again["watermark"]) == (0, first["watermark"])
    report = artifacts_of(state)["processmaker-sync"]
    assert f"| {first['watermark']} |" in report
    assert "nothing changed since the stored watermark" in report
    assert "None" not in report


# -- the resources picker --------------------------------------------------------------------


def test_every_resource_the_form_offers_syncs_from_the_sandbox(
    stack: PmStack, tmp_path: Path
) -> None:
    destination = f"duckdb:///{tmp_path / 'all.duckdb'}"
    state = sync(resources=list(OFFERED_RESOURCES), destination=destination, return_state=True)
    assert state.is_completed(), artifacts_of(state).get("processmaker-sync")
    synced = [r["resource"] for r in state.result()["resources"]]
    assert synced == list(OFFERED_RESOURCES)
    assert "404" not in str(stack.control.stats()["requests"])


def test_a_route_the_form_does_not_offer_is_still_taken_by_name_in_python(
    stack: PmStack, tmp_path: Path
) -> None:
    # The enum is the form's (Prefect enforces it for a deployment's runs); Python and the
    # CLI name any list route, which the catalogue checks.
    from processmaker_prefect.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="Unknown resource 'users_task_cont'"):
        sync(resources=["users_task_cont"], destination=f"duckdb:///{tmp_path / 'x.duckdb'}")


# -- call-endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/api/1.0/users/1", "/users/1"),
        ("/api/1.0", "/"),
        ("/api/1.0?x=1", "/?x=1"),
        ("/users/1", "/users/1"),
        ("/api/1.00/users", "/api/1.00/users"),  # not the prefix: refused later as a 404
    ],
)
def test_the_api_prefix_copied_from_the_docs_is_dropped(given: str, expected: str) -> None:
    assert route(given) == expected


def test_a_path_copied_with_its_api_prefix_calls_the_route(stack: PmStack) -> None:
    state = call_endpoint("/api/1.0/users/1", return_state=True)
    assert state.result() == api(stack, "/users/1")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "GET /users/1 on environment"


def test_a_request_list_shows_names_statuses_and_dates_and_never_none(stack: PmStack) -> None:
    state = call_endpoint("/requests", query={"per_page": 5, "order_by": "id"}, return_state=True)
    report = artifacts_of(state)["processmaker-call-endpoint"]
    header = next(line for line in report.splitlines() if line.startswith("| "))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[:5] == ["id", "name", "case_title", "status", "process_id"]
    assert any(c.endswith("_at") for c in columns)
    assert "uuid" not in columns
    assert "None" not in report


def test_columns_put_all_null_and_uuid_fields_last() -> None:
    rows = [
        {"uuid": "9f3c5a0e-1b2d-4c6e-8f00-0a1b2c3d4e5f", "progress": None, "id": 7,
         "callable_id": "ProcessId", "created_at": "2026-01-02T03:04:05Z", "status": "ACTIVE",
         "name": "Urlaubsantrag – Müller", "data": {"a": 1}, "link": None},  # noqa: RUF001
        {"uuid": "0c0c5a0e-1b2d-4c6e-8f00-0a1b2c3d4e5f", "progress": None, "id": 8,
         "callable_id": "ProcessId", "created_at": None, "status": "COMPLETED",
         "name": "", "data": {}, "link": "https://pm.example.com/requests/8"},
    ]  # fmt: skip
    assert columns_for(rows) == [
        "id", "name", "status", "created_at", "callable_id", "link", "uuid", "progress"
    ]  # fmt: skip


def test_the_whole_body_is_kept_as_an_artifact(stack: PmStack) -> None:
    state = call_endpoint("/requests", query={"per_page": 30, "order_by": "id"}, return_state=True)
    result = state.result()
    artifacts = artifacts_of(state)
    assert "processmaker-call-endpoint-body" in artifacts["processmaker-call-endpoint"]
    body = artifacts["processmaker-call-endpoint-body"]
    kept = re.search(r"```json\n(.*)\n```", body, re.S)
    assert kept is not None
    assert json.loads(kept.group(1)) == result
    assert len(result["data"]) == 30  # more than the summary's 20 rows, all kept


def test_a_failed_call_leaves_an_artifact_naming_the_error(stack: PmStack) -> None:
    state = call_endpoint("/no_such_route/1", return_state=True)
    assert state.is_failed()
    with pytest.raises(ProcessMakerNotFoundError):
        state.result()
    report = artifacts_of(state)["processmaker-call-endpoint"]
    assert "The call failed" in report
    assert "ProcessMakerNotFoundError" in report
    assert "404" in report


# -- a down ProcessMaker ---------------------------------------------------------------------


def test_a_down_token_endpoint_opens_the_breaker_and_stops_the_run_without_task_retries(
    stack: PmStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every POST /oauth/token answers 503: no API call is ever reached.
    monkeypatch.setenv("PROCESSMAKER_BREAKER_THRESHOLD", "4")
    monkeypatch.setenv("PROCESSMAKER_RETRIES", "5")
    monkeypatch.setenv("PROCESSMAKER_BACKOFF", "0.05")
    reset_token_providers()
    reset_breakers()
    stack.control.reset()
    stack.control.set_faults(down=True, retry_after=0)
    try:
        state = sync(resources=["users", "requests"], destination=f"duckdb:///{tmp_path / 'x'}",
                     return_state=True)  # fmt: skip
        injected = stack.control.stats()["injected"]
    finally:
        stack.control.clear_faults()
        reset_breakers()
    assert state.is_failed()
    # Four attempts opened the breaker; the POST's last retry and Prefect's two retries of
    # the task were never sent.
    assert injected == {"down": 4}
    report = artifacts_of(state)["processmaker-sync"]
    assert "ProcessMakerUnavailableError" in report
    assert "looks down: 4 calls in a row failed (the last: POST" in report
    assert "/oauth/token" in report
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    # One attempt of the first resource's task, and the second resource not tried.
    assert [(r.name, r.run_count) for r in runs] == [("sync-users", 1)]


# -- credential events and the healthcheck of every block ------------------------------------


class ListSink:
    """Keeps every event emitted (the layers below Prefect report through this hook)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    def listening(self) -> bool:
        return True

    def send(
        self, event: str, resource: dict[str, str], related: list[dict[str, str]],
        payload: dict[str, Any],
    ) -> bool:  # fmt: skip
        self.events.append((event, resource, payload))
        return True


@pytest.fixture
def sink() -> Any:
    kept = ListSink()
    previous = set_event_sink(kept)
    yield kept
    set_event_sink(previous)


def test_a_grant_refused_on_a_block_is_an_event_naming_the_block(
    stack: PmStack, sink: ListSink
) -> None:
    stack.put(**{**stack.password_credentials(), "password": "not-the-password"})
    block = ProcessMakerConnection(url=stack.sandbox.url, secret=stack.path)
    block.save("pm-refused", overwrite=True)
    with pytest.raises(HealthcheckFailed, match="token check failed"):
        healthcheck(connection="pm-refused")
    refused = [r for e, r, _ in sink.events if e == "processmaker.token.refused"]
    failed = [r for e, r, _ in sink.events if e == "processmaker.credential.check_failed"]
    assert [r.get("processmaker.block") for r in refused] == ["pm-refused"]
    assert [r.get("processmaker.block") for r in failed] == ["pm-refused"]


def test_the_scheduled_healthcheck_checks_every_saved_block(stack: PmStack) -> None:
    with get_client(sync_client=True) as client:  # blocks other tests of the session saved
        for old in client.read_block_documents_by_type("processmaker-connection"):
            client.delete_block_document(old.id)
    ProcessMakerConnection(url=stack.sandbox.url, secret=stack.path).save("pm-good")
    ProcessMakerConnection(url=stack.sandbox.url, secret="secret/moved/away").save("pm-moved")
    name = run_named(healthcheck, "psi757-uxbenka", every_block=True)
    assert name == "healthcheck every block"
    state = healthcheck(every_block=True, return_state=True)
    assert state.is_failed()
    with pytest.raises(HealthcheckFailed) as caught:
        state.result()
    assert str(caught.value).startswith("pm-moved: secret check failed: VaultNotFoundError")
    assert str(caught.value).endswith("(1 of 2 failed: pm-moved)")
    report = artifacts_of(state)["processmaker-health"]
    assert "# ProcessMaker health: pm-good" in report
    assert "# ProcessMaker health: pm-moved" in report
    assert "fix the secret field of block pm-moved" in report
