"""Scheduled health check: the ``pm-prefect doctor`` checks as a flow that fails loudly."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks import ProcessMakerPrefectError, resolve_settings, run_checks

__all__ = ["HealthcheckFailed", "healthcheck"]


class HealthcheckFailed(ProcessMakerPrefectError):
    """A check failed: credentials, Vault or ProcessMaker need attention."""


@task(name="Run ProcessMaker checks", cache_policy=NO_CACHE)
def run_processmaker_checks(connection: str | None) -> list[dict[str, Any]]:
    """Configuration, Vault, secret, grant, token, API call; plain results, no secrets."""
    settings, vault_settings = resolve_settings(connection)
    return [result.__dict__.copy() for result in run_checks(settings, vault_settings)]


def expiry_table(rows: list[dict[str, str]]) -> list[str]:
    """Markdown lines of the credential expiry table (none when the checks stopped early)."""
    if not rows:
        return []
    lines = [
        "",
        "## Credential expiry",
        "",
        "| credential | expires | in | how it is known | attention |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [row[k].replace("|", "\\|") for k in ("credential", "expires", "in", "source")]
        lines.append(f"| {' | '.join(cells)} | {row['attention']} |")
    return lines


@flow(
    name="processmaker-healthcheck",
    description="Vault, credentials, token and one API call; fails when any check fails.",
)
def healthcheck(connection: str | None = None) -> list[dict[str, Any]]:
    """Run the doctor checks; the flow run fails, naming the first failure, when one fails.

    The artifact lists the checks, then when each credential in use expires; a credential
    within PROCESSMAKER_EXPIRY_WARNING_DAYS also emits ``processmaker.credential.expiring``.

    Args:
        connection: Name of a ProcessMakerConnection block; unset: the environment.
    """
    results = run_processmaker_checks(connection)
    lines = ["# ProcessMaker health", "", "| check | result | detail |", "|---|---|---|"]
    for r in results:
        detail = r["detail"].replace("|", "\\|")
        mark = "FAIL" if not r["ok"] else "warn" if r.get("warning") else "ok"
        lines.append(f"| {r['name']} | {mark} | {detail} |")
    lines += expiry_table([row for r in results for row in r.get("rows", ())])
    create_markdown_artifact(key="processmaker-health", markdown="\n".join(lines))
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise HealthcheckFailed(f"{failed[0]['name']} check failed: {failed[0]['detail']}")
    return results
