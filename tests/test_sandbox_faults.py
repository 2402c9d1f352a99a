"""Fault injection over real HTTP: every kind on the wire, list-only, down, seeds, counters."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.sandbox import SandboxControl

pytestmark = pytest.mark.integration


def api(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.config.pat}"}
    return requests.request(
        method, f"{sandbox.url}/api/1.0{path}", headers=headers, timeout=30, **kwargs
    )


def test_html_fault_is_a_200_login_page(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(html_rate=1.0)
    response = api(sandbox, "GET", "/requests")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=UTF-8"
    assert response.text.startswith("<!DOCTYPE html>")
    assert "Single Sign-On" in response.text
    assert sandbox_reset.stats()["injected"] == {"html": 1}


def test_truncate_fault_cuts_a_200_json_body_in_half(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    whole = api(sandbox, "GET", "/requests", params={"per_page": 5}).content
    sandbox_reset.set_faults(truncate_rate=1.0)
    response = api(sandbox, "GET", "/requests", params={"per_page": 5})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == whole[: len(whole) // 2]
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert sandbox_reset.stats()["injected"] == {"truncate": 1}


def test_envelope_fault_drops_data_or_meta_of_a_list(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(envelope_rate=1.0, seed=3)
    keys = [tuple(api(sandbox, "GET", "/groups").json()) for _ in range(12)]
    assert set(keys) == {("data",), ("meta",)}
    injected = sandbox_reset.stats()["injected"]
    assert injected == {
        "envelope_missing_data": keys.count(("meta",)),
        "envelope_missing_meta": keys.count(("data",)),
    }


def test_envelope_fault_leaves_single_objects_alone(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(envelope_rate=1.0)
    assert api(sandbox, "GET", "/groups/1").json()["id"] == 1
    assert sandbox_reset.stats()["injected"] == {}


def test_503_carries_retry_after(sandbox: SandboxServer, sandbox_reset: SandboxControl) -> None:
    sandbox_reset.set_faults(error_rate=1.0, error_statuses=[503], retry_after=9)
    response = api(sandbox, "GET", "/requests")
    assert (response.status_code, response.json()) == (503, {"message": "Service Unavailable"})
    assert response.headers["Retry-After"] == "9"
    assert sandbox_reset.stats()["injected"] == {"error_503": 1}


def test_500_is_laravels_server_error(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(error_rate=1.0, error_statuses=[500])
    response = api(sandbox, "GET", "/users")
    assert (response.status_code, response.json()) == (500, {"message": "Server Error"})
    assert "Retry-After" not in response.headers


def test_list_only_spares_single_objects_and_writes(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(error_rate=1.0, error_statuses=[500], list_only=True)
    assert api(sandbox, "GET", "/requests").status_code == 500
    assert api(sandbox, "GET", "/collections/1/records").status_code == 500
    assert api(sandbox, "GET", "/processes/1/start_events").status_code == 500
    assert api(sandbox, "GET", "/requests/1").status_code == 200
    assert api(sandbox, "GET", "/processes/1").status_code == 200
    assert api(sandbox, "POST", "/process_events/1?event=node_1", json={}).status_code == 201
    assert sandbox_reset.stats()["injected"] == {"error_500": 3}


def test_list_only_applies_to_fail_next_too(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(fail_next=1, fail_status=502, list_only=True)
    assert api(sandbox, "GET", "/users/1").status_code == 200
    assert api(sandbox, "GET", "/users").status_code == 502
    assert api(sandbox, "GET", "/users").status_code == 200


def test_down_fails_every_api_and_token_call(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(down=True, retry_after=30)
    statuses = {
        api(sandbox, "GET", "/requests").status_code,
        api(sandbox, "GET", "/requests/1").status_code,
        api(sandbox, "GET", "/users/1/tokens").status_code,
        api(sandbox, "PUT", "/tasks/1", json={}).status_code,
    }
    token = requests.post(f"{sandbox.url}/oauth/token", data={"grant_type": "x"}, timeout=30)
    assert statuses == {503}
    assert (token.status_code, token.headers["Retry-After"]) == (503, "30")
    assert sandbox_reset.stats()["injected"] == {"down": 5}
    sandbox_reset.clear_faults()
    assert api(sandbox, "GET", "/requests").status_code == 200


def _statuses(sandbox: SandboxServer, calls: int = 30) -> list[int]:
    return [api(sandbox, "GET", "/groups").status_code for _ in range(calls)]


def test_random_faults_repeat_from_the_same_seed(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    faults = {"error_rate": 0.3, "rate_limit_rate": 0.2, "error_statuses": [500, 503]}
    sandbox_reset.set_faults(**faults, seed=11)
    first = _statuses(sandbox)
    sandbox_reset.set_faults(**faults, seed=11)
    assert _statuses(sandbox) == first
    sandbox_reset.set_faults(**faults, seed=12)
    assert _statuses(sandbox) != first
    assert {500, 503, 429, 200} <= set(first)


def test_counters_name_each_injected_kind(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    sandbox_reset.set_faults(error_rate=0.3, rate_limit_rate=0.2, error_statuses=[502], seed=5)
    statuses = _statuses(sandbox)
    stats = sandbox_reset.stats()
    assert stats["injected"] == {
        "error_502": statuses.count(502),
        "rate_limit": statuses.count(429),
    }
    assert stats["injected_total"] == len(statuses) - statuses.count(200)


def test_drops_are_counted(sandbox: SandboxServer, sandbox_reset: SandboxControl) -> None:
    sandbox_reset.set_faults(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api(sandbox, "GET", "/requests")
    assert sandbox_reset.stats()["injected"] == {"drop": 1}


def test_latency_holds_back_every_api_route(
    sandbox: SandboxServer, sandbox_reset: SandboxControl
) -> None:
    # Counted, not timed: timings belong in bench/.
    sandbox_reset.set_faults(latency_ms=1)
    api(sandbox, "GET", "/requests")
    api(sandbox, "GET", "/tasks/1")
    api(sandbox, "GET", "/collections/1/records")
    api(sandbox, "GET", "/users/1/tokens")
    api(sandbox, "POST", "/process_events/1?event=node_1", json={})
    api(sandbox, "GET", "/no_such_route")
    stats = sandbox_reset.stats()
    assert stats["delayed"] == stats["requests_total"] == 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error_rate": 0.6, "drop_rate": 0.5}, "must add up to at most 1"),
        ({"down": 1}, "down must be true or false"),
        ({"seed": "x"}, "seed must be an integer or null"),
        ({"html_rate": 2}, "html_rate must be a number between 0 and 1"),
    ],
)
def test_bad_fault_settings_are_422(
    sandbox: SandboxServer, body: dict[str, Any], message: str
) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=body, timeout=30)
    assert response.status_code == 422
    assert message in response.json()["message"]
