"""Credential events and the day-one automations against a real ``prefect server start``.

Flows and scripts run in subprocesses pointed at that server (as a worker runs them), so the
test process's own Prefect settings and events worker stay out of it. Events are read back
through the server's ``POST /api/events/filter``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.prefect_server import ROOT
from tests.fixtures.prefect_server import prefect_rest as api
from tests.fixtures.sandbox import SandboxControl
from tests.fixtures.stack import PmStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")
SYNC = (
    "import sys; from processmaker_prefect.flows.sync import sync; "
    "sync(resources=['users'], destination=sys.argv[1])"
)
HEALTHCHECK = "from processmaker_prefect.flows.healthcheck import healthcheck; healthcheck()"
# Four threads share one client and its token provider; the PAT in Vault is expired, so each
# gets a 401 for the same token. Outside any flow run, as a script or a notebook would be.
FOUR_THREADS = """
import threading
from processmaker_prefect import ProcessMakerPrefectError, open_client
client = open_client()
barrier = threading.Barrier(4)
failures = []
def call():
    barrier.wait()
    try:
        client.get("/users", params={"per_page": 1})
    except ProcessMakerPrefectError as exc:
        failures.append(type(exc).__name__)
threads = [threading.Thread(target=call) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(",".join(failures))
"""


def run(env: dict[str, str], code: str, *args: str, fails: bool = False) -> str:
    """``python -c code args`` from the checkout; assert it succeeds (or fails, if ``fails``)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert (done.returncode != 0) == fails, done.stderr[-3000:]
    return done.stdout


def since() -> str:
    return (datetime.now(UTC) - timedelta(seconds=5)).isoformat()


def read_events(env: dict[str, str], start: str, prefix: str = "") -> list[dict[str, Any]]:
    """``POST /api/events/filter``: every event since ``start`` (named ``prefix*``)."""
    until = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    body: dict[str, Any] = {"filter": {"occurred": {"since": start, "until": until}}, "limit": 50}
    if prefix:
        body["filter"]["event"] = {"prefix": [prefix]}
    page = api(env, "POST", "/events/filter", body)
    assert isinstance(page, dict)
    events: list[dict[str, Any]] = page["events"]
    while page.get("next_page"):
        path = str(page["next_page"]).split("/api", 1)[1]
        page = api(env, "GET", path)
        assert isinstance(page, dict)
        events += page["events"]
    return events


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 90) -> Any:
    """Poll ``probe`` until it returns something truthy (events are persisted in batches)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def assert_no_secret(events: list[dict[str, Any]], stack: PmStack) -> None:
    dump = json.dumps(events)
    for secret in stack.secret_values():
        assert secret not in dump
    assert not JWT.search(dump), "a JWT (access token or PAT) is in an event"


@pytest.fixture
def env(prefect_api: dict[str, str], pm_env: dict[str, str]) -> dict[str, str]:
    return {**prefect_api, **pm_env}


def test_a_sync_runs_events_reach_the_server_and_hold_no_secret(
    env: dict[str, str], pm_stack: PmStack, tmp_path: Path
) -> None:
    start = since()
    run(env, SYNC, f"duckdb:///{tmp_path / 'events.duckdb'}")
    names = {"processmaker.vault.login", "processmaker.token.obtained"}
    found = wait_for(
        "the sync's events",
        lambda: (
            (e := read_events(env, start, "processmaker."))
            and names <= {x["event"] for x in e}
            and e
        ),
    )
    obtained = next(e for e in found if e["event"] == "processmaker.token.obtained")
    assert obtained["resource"]["prefect.resource.id"] == (
        f"processmaker.instance.{pm_stack.sandbox.url}"
    )
    assert obtained["payload"]["grant"] == "password"
    assert obtained["payload"]["source"] == "grant"  # this run asked the token endpoint
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in obtained["related"]}
    assert roles["credentials"] == f"vault.secret.{pm_stack.path}"
    assert roles["flow-run"].startswith("prefect.flow-run.")  # shown on the run's page
    # One grant and one login for the whole run, however many pages it read. Counted per flow
    # run: the shared Prefect server may run another test's scheduled deployment meanwhile.
    per_run: dict[str, int] = {}
    for event in found:
        if event["event"] == "processmaker.token.obtained":
            run_id = next(
                (r["prefect.resource.id"] for r in event["related"]
                 if r.get("prefect.resource.role") == "flow-run"),
                "no run",
            )  # fmt: skip
            per_run[run_id] = per_run.get(run_id, 0) + 1
    assert per_run[roles["flow-run"]] == 1
    assert set(per_run.values()) == {1}
    assert_no_secret(read_events(env, start), pm_stack)


def test_a_refused_token_is_one_event_however_many_threads_saw_it(
    env: dict[str, str], pm_stack: PmStack, sandbox_reset: SandboxControl
) -> None:
    expired = sandbox_reset.create_pat(expires_in=-60)["accessToken"]
    pm_stack.put(personal_access_token=expired)
    start = since()
    failures = run(env, FOUR_THREADS).strip().split(",")
    assert failures == ["ProcessMakerAuthError"] * 4
    refused = wait_for("the refusal", lambda: read_events(env, start, "processmaker.token.refused"))
    time.sleep(3)  # let any duplicate arrive before counting
    refused = read_events(env, start, "processmaker.token.refused")
    assert len(refused) == 1
    assert refused[0]["payload"] == {"grant": "pat", "cause": "unauthenticated", "status": 401}
    assert expired not in json.dumps(read_events(env, start))


class Receiver(BaseHTTPRequestHandler):
    """A loopback webhook receiver: keeps every POST body."""

    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(json.loads(self.rfile.read(length) or b"{}"))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


MAKE_BLOCK = """
import sys
from prefect.blocks.notifications import CustomWebhookNotificationBlock
CustomWebhookNotificationBlock(
    name="processmaker-alerts", url=sys.argv[1],
    json_data={"subject": "{{subject}}", "body": "{{body}}"},
).save("processmaker-alerts", overwrite=True)
"""


@pytest.fixture(scope="module")
def alerts(prefect_api: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    """A loopback webhook receiver behind a Custom Webhook notification block, and the
    automations loaded through it as the README says; yields the bodies received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        run(prefect_api, MAKE_BLOCK, f"http://127.0.0.1:{server.server_port}/hook")
        cli = subprocess.run(
            [sys.executable, "-m", "processmaker_prefect.flows.cli", "automations", "--notify",
             "custom-webhook/processmaker-alerts"],
            env=prefect_api, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stdout + cli.stderr
        out = " ".join(cli.stdout.split())
        assert "ok processmaker-credential-expiring created" in out
        # Not deployed on this server: the automation that runs the healthcheck says so.
        assert "skip processmaker-token-refused-healthcheck" in out
        yield server.bodies  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def received(bodies: list[dict[str, Any]], subject: str) -> list[dict[str, Any]]:
    return [b for b in bodies if subject in str(b.get("subject"))]


def test_the_automations_load_and_loading_again_replaces_them(
    prefect_api: dict[str, str], alerts: list[dict[str, Any]]
) -> None:
    again = subprocess.run(
        [sys.executable, "-m", "processmaker_prefect.flows.cli", "automations", "--notify",
         "custom-webhook/processmaker-alerts"],
        env=prefect_api, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "processmaker-sync-stalled replaced" in " ".join(again.stdout.split())
    loaded = api(prefect_api, "POST", "/automations/filter", {})
    assert isinstance(loaded, list)
    assert sorted(a["name"] for a in loaded) == [
        "processmaker-credential-check-failed",
        "processmaker-credential-expiring",
        "processmaker-sync-failed-twice",
        "processmaker-sync-stalled",
    ]


def test_a_pat_expiring_in_three_days_fires_the_automation_webhook(
    env: dict[str, str],
    pm_stack: PmStack,
    sandbox_reset: SandboxControl,
    alerts: list[dict[str, Any]],
) -> None:
    pat = sandbox_reset.create_pat(expires_in=3 * 86400)["accessToken"]
    pm_stack.put(personal_access_token=pat)
    start = since()
    run(env, HEALTHCHECK)
    expiring = wait_for(
        "the expiring event", lambda: read_events(env, start, "processmaker.credential.expiring")
    )
    assert expiring[0]["resource"]["processmaker.credential"] == "pat"
    assert 2.9 < expiring[0]["payload"]["days_left"] <= 3.0
    subject = "ProcessMaker credential expiring: pat"
    hooks = wait_for("the webhook", lambda: received(alerts, subject), timeout=120)
    assert "expires at" in hooks[0]["body"]
    assert pm_stack.path in hooks[0]["body"]
    assert pat not in json.dumps(hooks)
    assert_no_secret(read_events(env, start), pm_stack)


def test_a_sync_failing_twice_in_a_row_fires_its_webhook(
    env: dict[str, str], alerts: list[dict[str, Any]], tmp_path: Path
) -> None:
    broken = {k: v for k, v in env.items() if k != "PROCESSMAKER_URL"}
    for _ in range(2):
        run(broken, SYNC, f"duckdb:///{tmp_path / 'never.duckdb'}", fails=True)
    subject = "ProcessMaker sync failed twice in a row"
    hooks = wait_for("the webhook", lambda: received(alerts, subject), timeout=120)
    assert len(hooks) == 1
    assert "prefect.flow-run." in hooks[0]["body"]
