"""Many workers on one Prefect server: two ProcessMaker instances, two process workers, one
PostgreSQL-backed ``prefect server start``.

Proves, across worker processes: (1) a Prefect global concurrency limit per instance bounds
the API calls in flight to it, as the sandbox itself counts them; (2) two syncs of one
destination never overlap: the second is cancelled. Connections are blocks, passed as the UI
passes them (a ``$ref``) and by name, as the API may.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.settings import PREFECT_API_URL, temporary_settings

from processmaker_prefect import ProcessMakerConnection, instance_limit_name
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.openbao import OpenBao
from tests.fixtures.prefect_server import BIN, ROOT, prefect_rest
from tests.fixtures.sandbox import SandboxControl

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


class Instance:
    """A sandbox, its credentials in Vault, its block and its Prefect limit."""

    def __init__(self, name: str, server: SandboxServer, limit: int) -> None:
        self.name, self.server, self.limit = name, server, limit
        self.control = SandboxControl(server.url)
        self.block_id = ""


@pytest.fixture
def instances(
    prefect_api: dict[str, str], deployments: list[dict[str, Any]], openbao: OpenBao
) -> Iterator[dict[str, Instance]]:
    """Instances a (limit 2) and b (limit 1): 300 and 100 requests, pages of 20, 4 at once."""
    if prefect_api["PM_TEST_PREFECT_DB"] != "postgresql":
        pytest.skip("many workers on one Prefect server need its PostgreSQL database")
    with (
        ExitStack() as stack,
        temporary_settings({PREFECT_API_URL: prefect_api["PREFECT_API_URL"]}),
    ):
        found: dict[str, Instance] = {}
        for name, records, limit in (("a", 300, 2), ("b", 100, 1)):
            server = stack.enter_context(SandboxServer(SandboxConfig(port=0, records=records)))
            instance = found[name] = Instance(name, server, limit)
            path = f"secret/scale/{name}"
            c = server.config
            openbao.put(path, {"client_id": c.client_id, "client_secret": c.client_secret,
                               "username": c.username, "password": c.password})  # fmt: skip
            block = ProcessMakerConnection(
                url=server.url, secret=path, page_size=20, max_concurrency=4
            )
            instance.block_id = str(block.save(f"scale-{name}", overwrite=True))
            with get_client(sync_client=True) as client:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=instance_limit_name(server.url), limit=limit)
                )
        yield found


@pytest.fixture
def destinations(postgres_url: str) -> dict[str, str]:
    """Three PostgreSQL databases: PostgreSQL has no file lock, so only ours prevents overlap."""
    urls = {}
    with psycopg.connect(postgres_url, autocommit=True) as con:
        for name in ("scale_a1", "scale_a2", "scale_b"):
            con.execute(f"DROP DATABASE IF EXISTS {name}")
            con.execute(f"CREATE DATABASE {name}")
            urls[name] = postgres_url.rsplit("/", 1)[0] + "/" + name
    return urls


@pytest.fixture
def workers(prefect_api: dict[str, str], openbao: OpenBao, tmp_path: Path) -> Iterator[list[Path]]:
    """Two process workers on the pool, one flow run at a time each; their logs."""
    env = {
        **{k: v for k, v in prefect_api.items() if not k.startswith("PROCESSMAKER_")},
        "VAULT_ADDR": openbao.addr,
        "VAULT_TOKEN": openbao.token,
        "VAULT_AUTH_METHOD": "token",
        "PROCESSMAKER_SYNC_LAG": "0",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    processes = []
    for number, log in enumerate(logs, start=1):
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "prefect"),
                        "worker",
                        "start",
                        "--pool",
                        "processmaker",
                        "--name",
                        f"scale-{number}",
                        "--limit",
                        "1",
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        _wait_online(prefect_api, [f"scale-{n}" for n in (1, 2)])
        LOGS[:] = logs
        yield logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_online(env: dict[str, str], names: list[str], timeout: float = 180) -> None:
    """Until every worker has reported to the server: runs must not all go to the first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = prefect_rest(env, "POST", "/work_pools/processmaker/workers/filter", {})
        if {w["name"] for w in found if w["status"] == "ONLINE"} >= set(names):
            return
        time.sleep(0.5)
    raise AssertionError(f"workers {names} did not come online")


def run_sync(env: dict[str, str], deployments: list[dict[str, Any]], **parameters: Any) -> str:
    sync_id = next(d["id"] for d in deployments if d["name"] == "sync")
    body = {"parameters": {"resources": ["requests", "users"], **parameters}}
    return str(prefect_rest(env, "POST", f"/deployments/{sync_id}/create_flow_run", body)["id"])


LOGS: list[Path] = []  # the workers' logs, quoted when a run does not get where expected


def wait_for(
    env: dict[str, str], run_id: str, types: set[str], timeout: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = prefect_rest(env, "GET", f"/flow_runs/{run_id}")
        if run["state"]["type"] in types | FINAL:
            return run
        time.sleep(0.5)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in LOGS)
    raise AssertionError(f"run {run_id} never reached {types or FINAL}: {run['state']}\n{tails}")


def worker_of(logs: list[Path], run_id: str) -> int:
    """Which worker (1 or 2) submitted the run, from the workers' own logs."""
    # Both workers may pick up a scheduled run; the server lets one submit it and the other
    # logs "Aborted submission of flow run '<id>'": that one did not run it.
    aborted = f"Aborted submission of flow run '{run_id}'"
    texts = [log.read_text() for log in logs]
    holders = [n for n, text in enumerate(texts, start=1) if run_id in text and aborted not in text]
    assert len(holders) == 1, (run_id, holders)
    return holders[0]


@pytest.mark.timeout(900)
def test_two_instances_on_two_workers_keep_their_limits_and_never_overlap_a_destination(
    prefect_api: dict[str, str],
    deployments: list[dict[str, Any]],
    instances: dict[str, Instance],
    destinations: dict[str, str],
    workers: list[Path],
) -> None:
    env = prefect_api
    a, b = instances["a"], instances["b"]
    by_ref = {"$ref": {"block_document_id": a.block_id}}  # what the UI's picker sends
    by_name = "scale-b"  # what the API and the CLI may send

    # 1. Two syncs of instance a, one per worker, into two destinations: 8 calls could be
    #    in flight; a's limit allows 2.
    a.control.set_faults(latency_ms=300)
    first = run_sync(env, deployments, connection=by_ref, destination=destinations["scale_a1"])
    other = run_sync(env, deployments, connection=by_ref, destination=destinations["scale_a2"])
    for run_id in (first, other):
        assert wait_for(env, run_id, set())["state"]["type"] == "COMPLETED"
    assert {worker_of(workers, first), worker_of(workers, other)} == {1, 2}
    assert a.control.stats()["max_in_flight"] == a.limit

    # 2. A sync holds destination a1 (slowed down until the check is done); a second sync of
    #    a1 starts on the other worker and is cancelled, never running alongside.
    a.control.set_faults(latency_ms=1500)
    holder = run_sync(env, deployments, connection=by_ref, destination=destinations["scale_a1"],
                      full_refresh=True)  # fmt: skip
    wait_for(env, holder, {"RUNNING"})
    second = run_sync(env, deployments, connection=by_ref, destination=destinations["scale_a1"])
    refused = wait_for(env, second, set())
    a.control.clear_faults()
    assert refused["state"]["type"] == "CANCELLED", refused["state"]
    assert "Another sync of postgresql://" in refused["state"]["message"]
    assert worker_of(workers, second) != worker_of(workers, holder)
    assert wait_for(env, holder, set())["state"]["type"] == "COMPLETED"

    # 3. Instance b, by name, on whichever worker is free: its limit is 1.
    b.control.set_faults(latency_ms=50)
    third = run_sync(env, deployments, connection=by_name, destination=destinations["scale_b"])
    assert wait_for(env, third, set())["state"]["type"] == "COMPLETED"
    assert b.control.stats()["max_in_flight"] == b.limit
    with psycopg.connect(destinations["scale_b"]) as con:
        (rows,) = con.execute("select count(*) from requests").fetchone() or (0,)
    assert rows == b.server.config.records
