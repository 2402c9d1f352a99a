"""The processes around a speed run: OpenBao with an audit log, a Prefect server, flow runs.

Used by ``bench.bench_speed``: every flow run is a fresh process with a user's environment,
and the Vault reads are counted from OpenBao's own audit log, not from our counters.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.openbao import DevVault
from tests.fixtures.prefect_server import prefect_server as start_prefect_server

__all__ = ["HELLO", "AuditedVault", "Stack", "flow_run", "prefect_server", "whole_process"]

PER_PAGE, CONCURRENCY = 500, 8
SECRET = "secret/processmaker/bench"
ROOT = Path(__file__).resolve().parent.parent


class AuditedVault(DevVault):
    """``bao server -dev`` with a file audit device declared in a config file: OpenBao 2
    refuses to enable audit devices through the API."""

    def __init__(self, audit: Path) -> None:
        config = audit.with_suffix(".hcl")
        config.write_text(
            f'audit "file" "bench" {{\n  options {{\n    file_path = "{audit}"\n  }}\n}}\n'
        )
        super().__init__(extra_args=(f"-config={config}",))
        self.audit = audit


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free port with its own home; yields its API URL.

    The flow runs share it, so each does not pay an ephemeral server's start (and, with a
    cold home, its database migration); the whole-process comparison runs without it. The
    tests' own server, started the same way (tests/fixtures/prefect_server.py).
    """
    server_home = home / ".prefect-server"
    server_home.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    with start_prefect_server(server_home, env) as server_env:
        yield server_env["PREFECT_API_URL"]


class Stack:
    """OpenBao with an audit log, the credentials in it, and the environment of a user."""

    def __init__(self, vault: AuditedVault, home: Path, api: str) -> None:
        self.vault, self.audit, self.home, self.api = vault, vault.audit, home, api
        config = SandboxConfig()
        vault.put(SECRET.removeprefix("secret/"), {
            "client_id": config.client_id, "client_secret": config.client_secret,
            "username": config.username, "password": config.password,
        })  # fmt: skip

    def env(self, url: str, per_page: int = PER_PAGE, *, ephemeral: bool = False) -> dict[str, str]:
        """A user's environment; ``ephemeral``: no server, as ``pm-prefect`` runs by default."""
        server = {} if ephemeral else {"PREFECT_API_URL": self.api}
        return {
            **server,
            "PATH": os.environ.get("PATH", ""), "HOME": str(self.home),
            "PREFECT_HOME": str(self.home / ".prefect"), "PYTHONPATH": str(ROOT),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # A cold PREFECT_HOME migrates its database first: slow on a busy machine.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
            "PROCESSMAKER_URL": url, "PROCESSMAKER_SECRET": SECRET,
            "VAULT_ADDR": self.vault.addr, "VAULT_TOKEN": self.vault.token,
            "PROCESSMAKER_PAGE_SIZE": str(per_page),
            "PROCESSMAKER_MAX_CONCURRENCY": str(CONCURRENCY),
        }  # fmt: skip

    def vault_reads(self) -> int:
        """Reads of the secret's KV path, from OpenBao's own audit log (requests only)."""
        if not self.audit.exists():
            return 0
        count = 0
        for line in self.audit.read_text().splitlines():
            entry = json.loads(line)
            request = entry.get("request") or {}
            if (
                entry.get("type") == "request"
                and request.get("operation") == "read"
                and str(request.get("path", "")).startswith("secret/data/")
            ):
                count += 1
        return count


def flow_run(
    env: dict[str, str], resources: list[str], database: Path | str, profile: str = ""
) -> Any:
    """One ``sync`` flow run in a fresh process; its timings and result (``database``: a
    DuckDB file, or a destination URL)."""
    where = database if isinstance(database, str) else f"duckdb:///{database}"
    args = {"resources": resources, "destination": where, "profile": profile}
    done = subprocess.run(
        [sys.executable, "-m", "bench._flow_child", json.dumps(args)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"flow run failed ({done.returncode}): {done.stderr[-2000:]}")


def whole_process(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=300,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.decode()[-1500:]}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


HELLO = "from prefect import flow\n@flow\ndef hello():\n    return 1\nhello()\n"
