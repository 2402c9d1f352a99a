"""The demo: OpenBao + the ProcessMaker sandbox on free ports, then two syncs into DuckDB.

Everything it starts is stopped on the way out, on success, failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.openbao import DevVault
from processmaker_prefect.sandbox.server import SandboxServer

__all__ = ["run_demo"]

SECRET_PATH = "processmaker/demo"  # noqa: S105 - a Vault path, not a secret
SYNC_LAG = 2
# The one command the demo ends with: a query on the file it wrote, without a DuckDB shell.
LOOK_INSIDE = (
    "pm-prefect sql --destination {destination} "
    '"select status, count(*) as requests from requests group by status"'
)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, restoring the previous ones after."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stats(base_url: str) -> dict[str, Any]:
    response = requests.get(f"{base_url}/_sandbox/stats", timeout=10)
    response.raise_for_status()
    return dict(response.json())


def _mutate(base_url: str, resource: str, count: int) -> None:
    response = requests.post(
        f"{base_url}/_sandbox/mutate", json={"resource": resource, "count": count}, timeout=30
    )
    response.raise_for_status()


def run_demo(
    *, records: int = 5_000, workdir: Path = Path(".demo"), console: Console | None = None
) -> dict[str, Any]:
    """Run the whole demo and print its summary; returns the summary as plain data.

    Call it before anything imported Prefect: Prefect gets a private temporary home here
    (nothing is written into the user's home), unless an API is configured.
    """
    from processmaker_prefect import reset_token_providers, reset_vault_sessions
    from processmaker_prefect.flows.local_prefect import local_prefect
    from processmaker_prefect.flows.sql import list_tables

    console = console or Console()
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "processmaker.duckdb"
    for stale in workdir.glob("processmaker.duckdb*"):
        stale.unlink()
    destination = f"duckdb:///{database}"
    config = replace(SandboxConfig(), port=0, records=records, seed=1)
    summary: dict[str, Any] = {"runs": []}
    with (
        console.status("Starting OpenBao (Vault) dev server..."),
        DevVault() as vault,
    ):
        console.print(f"[green]ok[/] OpenBao dev server at {vault.addr}")
        with SandboxServer(config) as pm:
            console.print(f"[green]ok[/] ProcessMaker sandbox at {pm.url} ({records:,} requests)")
            vault.put(
                SECRET_PATH,
                {
                    "client_id": config.client_id,
                    "client_secret": config.client_secret,
                    "username": config.username,
                    "password": config.password,
                },
            )
            console.print(
                f"[green]ok[/] credentials written to Vault at secret/{SECRET_PATH} "
                "(password grant)"
            )
            env = {
                "VAULT_ADDR": vault.addr,
                "VAULT_TOKEN": vault.token,
                "VAULT_AUTH_METHOD": "token",
                "PROCESSMAKER_URL": pm.url,
                "PROCESSMAKER_SECRET": f"secret/{SECRET_PATH}",
                # A sync leaves changes younger than this to the next run (see tasks/sync.py).
                "PROCESSMAKER_SYNC_LAG": str(SYNC_LAG),
            }
            with (
                _environment(env),
                console.status("Starting Prefect (a temporary server of its own)..."),
                local_prefect() as prefect,
            ):
                summary["prefect_seconds"] = prefect.startup_seconds
                if prefect.temporary:
                    console.print(
                        f"[green]ok[/] Prefect temporary server started in "
                        f"{prefect.startup_seconds:.1f}s"
                    )
                else:
                    console.print(f"[green]ok[/] Prefect API at {prefect.api_url}")
                reset_vault_sessions()
                reset_token_providers()
                _run_syncs(console, pm.url, destination, summary)
            summary["stats"] = _stats(pm.url)
    summary["tables"] = dict(list_tables(destination))
    _print_summary(console, summary, database)
    return summary


def _run_syncs(console: Console, base_url: str, destination: str, summary: dict[str, Any]) -> None:
    from processmaker_prefect.flows.sync import sync

    for label, mutate in (("first sync", False), ("incremental sync", True)):
        if mutate:
            for resource, count in (("requests", 40), ("tasks", 60), ("users", 3)):
                _mutate(base_url, resource, count)
            console.print("[green]ok[/] changed 40 requests, 60 tasks, 3 users")
            with console.status(
                f"Waiting {SYNC_LAG + 1}s: a sync reads changes up to {SYNC_LAG}s ago..."
            ):
                time.sleep(SYNC_LAG + 1)
        started = time.monotonic()
        with console.status(f"Running the {label}..."):
            result = sync(destination=destination)
        seconds = time.monotonic() - started
        moved = {r["resource"]: r["rows"] for r in result["resources"]}
        summary["runs"].append({"label": label, "rows": moved, "seconds": seconds})
        console.print(f"[green]ok[/] {label}: {sum(moved.values()):,} rows in {seconds:.1f}s")


def _print_summary(console: Console, summary: dict[str, Any], database: Path) -> None:
    first, second = summary["runs"]
    console.print(f"ProcessMaker -> {database}", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("table")
    table.add_column("rows stored", justify="right")
    table.add_column("first sync", justify="right")
    table.add_column("incremental", justify="right")
    for name, count in summary["tables"].items():
        # Tables a sync writes beside a resource's (request variables, the watermarks)
        # have no rows of their own in the run's result.
        synced = name in first["rows"] or name in second["rows"]
        table.add_row(
            name,
            f"{count:,}",
            f"{first['rows'].get(name, 0):,}" if synced else "",
            f"{second['rows'].get(name, 0):,}" if synced else "",
        )
    table.add_row("[bold]time[/]", "", f"{first['seconds']:.1f}s", f"{second['seconds']:.1f}s")
    console.print(table)
    stats = summary["stats"]
    grants = ", ".join(f"{k}: {v}" for k, v in sorted(stats["grants"].items())) or "none"
    console.print(
        f"Token grants made: {stats['grants_total']} ({grants}); "
        f"API requests: {stats['requests_total']:,}"
    )
    console.print(
        f"Prefect's start-up took {summary['prefect_seconds']:.1f}s; the syncs "
        f"{first['seconds']:.1f}s and {second['seconds']:.1f}s. Look inside the file with:",
        highlight=False,
    )
    look = LOOK_INSIDE.format(destination=shlex.quote(f"duckdb:///{database}"))
    console.print(f"  {look}", highlight=False, soft_wrap=True)
