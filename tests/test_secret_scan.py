"""Secrets stay in memory: run every flow for real, then search everything they left behind.

Two subprocesses share a fresh PREFECT_HOME and Prefect's embedded (ephemeral) server, with
results persisted by default and every logger at DEBUG, library loggers (urllib3, oauthlib,
hvac, ...) also shipped to the Prefect API:

1. ``pm-prefect sync`` into a DuckDB file (password grant);
2. this module run as a script (``_drive``): healthcheck, call_endpoint, start_requests,
   a PAT run, a refresh_token run that rotates the token into Vault, then a revoke-all in
   the middle (a 401, renewal and replay; a refused PAT; a refused refresh), then a wrong
   password (failed flows), and last a flow that plants known markers in a parameter, a log,
   an artifact and a persisted result.

Then every file under PREFECT_HOME (raw, and every base64 blob decoded, zlib-inflated when
it is compressed), every row of every table of Prefect's database, the DuckDB tables and the
captured output are searched for every secret: the sandbox's client secret, password and
PAT, the Vault root token, the wrong password, and every access and refresh token the
sandbox issued (read from its registry in this process). The planted markers prove the
search reaches parameters, logs, artifacts and pickled results.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import duckdb
import pytest
import requests
import yaml

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.server import SandboxServer
from tests.fixtures.openbao import OpenBao

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("param", "log", "artifact", "result")
# Runs of the base64 alphabets (standard and URL-safe), also wrapped MIME-style at 76 columns
# with real or JSON-escaped newlines, as Prefect writes result files.
_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]{24,}(?:(?:\\n|\r?\n)[A-Za-z0-9+/_-]+)*={0,2}")


# -- the search ---------------------------------------------------------------------------


def decoded_layers(data: bytes, depth: int = 2) -> Iterator[bytes]:
    """Every base64 blob in ``data`` decoded (and inflated if zlib), recursively."""
    if depth == 0:
        return
    for match in _BASE64.finditer(data):
        blob = re.sub(rb"\s", b"", match.group().replace(b"\\n", b""))
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(blob + b"=" * (-len(blob) % 4))
            except (binascii.Error, ValueError):
                continue
            yield raw
            try:
                raw = zlib.decompress(raw)
                yield raw
            except zlib.error:
                pass
            yield from decoded_layers(raw, depth - 1)
            break


def needles(value: str) -> list[bytes]:
    """The forms a leaked value could take: as is, URL-encoded, JSON-escaped."""
    forms = {value, quote_plus(value), json.dumps(value)[1:-1]}
    return [form.encode() for form in forms]


def where(value: str, sources: dict[str, bytes]) -> list[str]:
    """The names of the sources that contain ``value`` in any of its forms."""
    forms = needles(value)
    return [name for name, data in sources.items() if any(form in data for form in forms)]


def collect_files(root: Path, label: str) -> dict[str, bytes]:
    """Each file raw, and separately the concatenation of its decoded base64 blobs."""
    sources: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        name = f"{label}:{path.relative_to(root)}"
        sources[name] = data
        sources[name + "#decoded"] = b"\n".join(decoded_layers(data))
    return sources


def collect_sqlite(db: Path) -> tuple[dict[str, bytes], dict[str, list[dict[str, Any]]]]:
    """Every table of Prefect's database as text, and the rows of the tables we assert on."""
    sources: dict[str, bytes] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            found = [dict(r) for r in connection.execute(f'SELECT * FROM "{table}"')]  # noqa: S608
            rows[table] = found
            text = "\n".join(repr(r) for r in found).encode()
            sources[f"db:{table}"] = text
            sources[f"db:{table}#decoded"] = b"\n".join(decoded_layers(text))
    finally:
        connection.close()
    return sources, rows


def collect_duckdb(path: Path) -> tuple[dict[str, bytes], dict[str, int]]:
    """DuckDB compresses strings on disk, so its tables are read too, not just its bytes."""
    sources = {"duckdb:file": path.read_bytes()}
    counts: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            found = connection.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()  # noqa: S608
            counts[f"{schema}.{table}"] = len(found)
            sources[f"duckdb:{schema}.{table}"] = "\n".join(map(repr, found)).encode()
    return sources, counts


# -- the runs -----------------------------------------------------------------------------


@dataclass
class Scan:
    """What the runs left behind, and the secrets to look for in it."""

    sources: dict[str, bytes]
    rows: dict[str, list[dict[str, Any]]]
    duckdb_counts: dict[str, int]
    secrets: dict[str, str]
    markers: dict[str, str]
    failures: dict[str, str]
    stats: dict[str, Any]
    refresh_before: str
    refresh_after: str
    outputs: dict[str, str] = field(default_factory=dict)


def _grant_password(url: str, config: SandboxConfig) -> dict[str, Any]:
    response = requests.post(
        f"{url}/oauth/token",
        data={
            "grant_type": "password",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": config.password,
        },
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _issued_tokens(server: SandboxServer) -> dict[str, str]:
    """Every access token (JWT) and refresh token the sandbox issued, by a non-secret name.

    Read from the sandbox's token registry in this process (``TokenRegistry.issued``).
    """
    issued = server.app.state.sandbox.oauth.registry.issued()
    found: dict[str, str] = {}
    for jwt in issued["access"]:
        _, payload, signature = jwt.split(".")
        name = f"access token {signature[:6]}"
        found[f"{name} (JWT)"] = jwt
        found[f"{name} (payload)"] = payload
        found[f"{name} (signature)"] = signature
    refresh, codes = issued["refresh"], issued["codes"]
    for index, token in enumerate(refresh):
        found[f"refresh token #{index}"] = token
    for index, code in enumerate(codes):
        found[f"auth code #{index}"] = code
    return found


def _read_secret(vault: OpenBao, path: str) -> dict[str, str]:
    mount, _ = vault.mount_of(path)
    body = vault.client.secrets.kv.v2.read_secret_version(
        path=path[len(mount) + 1 :], mount_point=mount, raise_on_deleted_version=True
    )
    data: dict[str, str] = body["data"]["data"]
    return data


# Loggers of Prefect's own server and plumbing: at DEBUG they print every SQL statement and
# websocket frame (what they carry is in the database, which is scanned), and slow the
# embedded server's first start past its timeout. Every other logger, root included, is DEBUG.
_QUIET = ("aiosqlite", "sqlalchemy", "alembic", "docket", "httpcore", "websockets", "asyncio")


def _logging_config(tmp: Path) -> Path:
    """Prefect's default logging.yml with the root logger at DEBUG and ``_QUIET`` at INFO."""
    from prefect.logging.configuration import DEFAULT_LOGGING_SETTINGS_PATH

    config = yaml.safe_load(DEFAULT_LOGGING_SETTINGS_PATH.read_text())
    config["root"]["level"] = "DEBUG"
    for name in _QUIET:
        config["loggers"][name] = {"level": "INFO"}
    path = tmp / "logging.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _env(
    tmp: Path, vault: OpenBao, sandbox: SandboxServer, paths: dict[str, str]
) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VAULT_", "BAO_", "PROCESSMAKER_", "PREFECT_"))
    }
    return {
        **base,
        # What the pm_env fixture sets, for this module's own sandbox (see scan()).
        "VAULT_ADDR": vault.addr,
        "VAULT_TOKEN": vault.token,
        "VAULT_AUTH_METHOD": "token",
        "PROCESSMAKER_URL": sandbox.url,
        "PROCESSMAKER_SECRET": paths["password"],
        "PROCESSMAKER_BACKOFF": "0.05",
        # A fresh Prefect home and its embedded server (no PREFECT_API_URL).
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG",  # logging.yml's root.level, by env override
        "PREFECT_LOGGING_SETTINGS_PATH": str(_logging_config(tmp)),
        # A fresh database is migrated at the first start: give it time on a busy machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "urllib3,oauthlib,requests_oauthlib,hvac,tasks,flows",
        "PYTHONUNBUFFERED": "1",
        "SCAN_PATHS": json.dumps(paths),
        "SCAN_CONTROL_URL": sandbox.url,
        "SCAN_OUT": str(tmp / "driver.json"),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def scan(openbao: OpenBao, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """Run everything once for the module, then gather what it left behind.

    Its own sandbox, not the session's: revoke-all revokes the configured PAT for good.
    """
    tmp = tmp_path_factory.mktemp("secret-scan")
    with SandboxServer(SandboxConfig(port=0, records=300, seed=3)) as sandbox:
        config = sandbox.config
        base = f"secret/scan/{uuid.uuid4().hex[:10]}"
        paths = {name: f"{base}/{name}" for name in ("password", "pat", "refresh")}
        password = {
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": config.password,
        }
        openbao.put(paths["password"], password)
        openbao.put(paths["pat"], {"personal_access_token": config.pat})
        first = _grant_password(sandbox.url, config)
        refresh_before = str(first["refresh_token"])
        openbao.put(
            paths["refresh"],
            {
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "refresh_token": refresh_before,
            },
        )
        env = _env(tmp, openbao, sandbox, paths)
        markers = {name: f"PLANTED-{name}-{uuid.uuid4().hex}" for name in MARKERS}
        wrong_password = f"wrong-password-{uuid.uuid4().hex[:12]}"
        env.update({f"SCAN_MARKER_{k.upper()}": v for k, v in markers.items()})
        env["SCAN_WRONG_PASSWORD"] = wrong_password

        duck = tmp / "pm.duckdb"
        sync = _run(
            ["-m", "processmaker_prefect.flows.cli", "sync", "--destination", f"duckdb:///{duck}",
             "--resources", "requests,users"],
            env,
        )  # fmt: skip
        assert sync.returncode == 0, sync.stderr[-3000:]
        driver = _run(["-m", "tests.test_secret_scan"], env)
        assert driver.returncode == 0, driver.stderr[-3000:]

        issued = _issued_tokens(sandbox)
        # The reconstruction reproduces a token we were actually handed.
        assert first["access_token"] in issued.values()
        refresh_after = _read_secret(openbao, paths["refresh"])["refresh_token"]
        stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()

    home = Path(env["PREFECT_HOME"])
    sources = collect_files(home, "home")
    db_sources, rows = collect_sqlite(home / "prefect.db")
    duck_sources, duck_counts = collect_duckdb(duck)
    outputs = {
        "sync stdout": sync.stdout,
        "sync stderr": sync.stderr,
        "driver stdout": driver.stdout,
        "driver stderr": driver.stderr,
    }
    sources.update(db_sources)
    sources.update(duck_sources)
    sources.update({name: text.encode() for name, text in outputs.items()})
    secrets = {
        "client_secret": config.client_secret,
        "password": config.password,
        "personal access token": config.pat,
        "Vault root token": openbao.token,
        "wrong password": wrong_password,
        "refresh token before": refresh_before,
        "refresh token after": refresh_after,
        **issued,
    }
    failures = json.loads((tmp / "driver.json").read_text())["failures"]
    return Scan(
        sources, rows, duck_counts, secrets, markers, failures, stats,
        refresh_before, refresh_after, outputs,
    )  # fmt: skip


# -- what is asserted ---------------------------------------------------------------------


def test_the_runs_left_records_of_every_kind(scan: Scan) -> None:
    """The scan has something to search: parameters, results, artifacts, logs, states."""
    flow_names = {r["name"] for r in scan.rows["flow"]}
    assert {
        "processmaker-sync",
        "processmaker-healthcheck",
        "processmaker-call-endpoint",
        "processmaker-start-requests",
    } <= flow_names
    parameters = [json.loads(r["parameters"]) for r in scan.rows["flow_run"]]
    assert {"path": "/users/1", "method": "GET", "query": {}, "body": {}} in [
        {k: p.get(k) for k in ("path", "method", "query", "body")} for p in parameters
    ]
    assert any(p.get("payloads") for p in parameters)
    assert any(str(p.get("destination", "")).startswith("duckdb:///") for p in parameters)

    artifact_keys = {r["key"] for r in scan.rows["artifact"]}
    assert {
        "processmaker-sync",
        "processmaker-health",
        "processmaker-call-endpoint",
        "processmaker-start-requests",
    } <= artifact_keys

    logs = scan.rows["log"]
    assert len(logs) > 20
    assert any(r["name"].startswith("urllib3") and r["level"] == 10 for r in logs)
    messages = "\n".join(r["message"] for r in logs)
    for error in ("TokenRejectedError", "ProcessMakerAuthError", "HealthcheckFailed"):
        assert error in messages

    states = scan.rows["flow_run_state"] + scan.rows["task_run_state"]
    assert sum(1 for s in states if s["type"] == "FAILED") >= 4
    results = [name for name in scan.sources if name.startswith("home:storage/")]
    assert len([n for n in results if not n.endswith("#decoded")]) >= 10
    assert scan.duckdb_counts["main.requests"] == 300
    assert scan.duckdb_counts["main.users"] > 0


def test_the_failure_paths_really_ran(scan: Scan) -> None:
    assert scan.failures == {
        "PAT after revoke-all": "ProcessMakerAuthError",
        "refresh_token after revoke-all": "TokenRejectedError",
        "healthcheck with a wrong password": "HealthcheckFailed",
        "call_endpoint with a wrong password": "TokenRejectedError",
    }
    # The password-grant run after revoke-all got a 401, renewed and replayed once.
    assert scan.stats["requests"]["GET /api/1.0/groups"] == 2
    assert scan.refresh_after != scan.refresh_before  # the refresh grant rotated into Vault


def test_the_scan_finds_planted_markers(scan: Scan) -> None:
    """Control: values put on purpose where a leak would go are found where they went."""
    found = {name: where(marker, scan.sources) for name, marker in scan.markers.items()}
    assert "db:flow_run" in found["param"]
    assert "db:log" in found["log"]
    assert "db:artifact" in found["artifact"]
    storage = [n for n in found["result"] if n.startswith("home:storage/")]
    # A persisted result is pickled and base64-encoded: found only by decoding.
    assert storage, found
    assert all(n.endswith("#decoded") for n in storage)
    # ... and a token-shaped value in a log line would be found too.
    assert "driver stderr" in found["log"]


def test_no_secret_anywhere(scan: Scan) -> None:
    assert len(scan.secrets) > 15  # the static secrets and every issued token
    leaks = {name: where(value, scan.sources) for name, value in scan.secrets.items()}
    assert {name: places for name, places in leaks.items() if places} == {}


# -- the driver: ``python -m tests.test_secret_scan`` -------------------------------------


def _drive() -> None:
    """Run the flows in one process, as a worker would, recording the expected failures."""
    from prefect import flow, get_run_logger, task
    from prefect.artifacts import create_markdown_artifact
    from pydantic import SecretStr

    from processmaker_prefect.auth import reset_token_providers
    from processmaker_prefect.flows.call_endpoint import call_endpoint
    from processmaker_prefect.flows.healthcheck import healthcheck
    from processmaker_prefect.flows.start_requests import RequestPayload, start_requests
    from processmaker_prefect.vault import get_vault

    paths = json.loads(os.environ["SCAN_PATHS"])
    control = os.environ["SCAN_CONTROL_URL"]
    failures: dict[str, str] = {}

    def use(name: str) -> None:
        os.environ["PROCESSMAKER_SECRET"] = paths[name]

    def expect_failure(label: str, run: Any) -> None:
        try:
            run()
        except Exception as exc:
            failures[label] = type(exc).__name__
        else:
            failures[label] = "no error"

    use("password")
    healthcheck()
    call_endpoint("/users/1")
    start_requests(process_id=1, payloads=[RequestPayload(label="one", data={"amount": 100})])
    use("pat")
    call_endpoint("/users/1")
    use("refresh")
    call_endpoint("/users/1")  # rotates the refresh token into Vault

    requests.post(f"{control}/_sandbox/revoke-all", timeout=10).raise_for_status()
    use("password")
    call_endpoint("/groups")  # holds a revoked token: 401, renewal, one replay
    use("pat")
    expect_failure("PAT after revoke-all", lambda: call_endpoint("/users/1"))
    use("refresh")
    expect_failure("refresh_token after revoke-all", lambda: call_endpoint("/users/1"))

    use("password")
    vault = get_vault()
    data: dict[str, str | SecretStr] = dict(vault.read(paths["password"], fresh=True).data)
    data["password"] = os.environ["SCAN_WRONG_PASSWORD"]
    vault.write(paths["password"], data)
    reset_token_providers()
    expect_failure("healthcheck with a wrong password", healthcheck)
    reset_token_providers()
    expect_failure("call_endpoint with a wrong password", lambda: call_endpoint("/users/1"))

    @task(name="Planted result")
    def planted_result() -> dict[str, str]:
        return {"value": os.environ["SCAN_MARKER_RESULT"]}

    @flow(name="planted-markers")
    def planted(marker: str) -> None:
        get_run_logger().info("planted %s", os.environ["SCAN_MARKER_LOG"])
        create_markdown_artifact(key="planted", markdown=os.environ["SCAN_MARKER_ARTIFACT"])
        planted_result()

    planted(os.environ["SCAN_MARKER_PARAM"])
    Path(os.environ["SCAN_OUT"]).write_text(json.dumps({"failures": failures}))


if __name__ == "__main__":
    _drive()
