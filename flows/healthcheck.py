"""Scheduled health check: the ``pm-prefect doctor`` checks as a flow that fails loudly."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from processmaker_prefect import (
    CheckResult,
    ConnectionParameter,
    ProcessMakerPrefectError,
    connection_name,
    resolve_settings,
    run_checks,
    saved_connection_names,
)
from processmaker_prefect.flows import markdown
from processmaker_prefect.flows.run_names import connection_label, parameter, run_name

__all__ = ["HealthcheckFailed", "healthcheck"]


class HealthcheckFailed(ProcessMakerPrefectError):
    """A check failed: credentials, Vault or ProcessMaker need attention."""


@task(name="Run ProcessMaker checks", task_run_name="checks", cache_policy=NO_CACHE)
def run_processmaker_checks(connection: str | None) -> list[dict[str, Any]]:
    """Configuration, Vault, secret, grant, token, API call; plain results, no secrets."""
    logger = get_run_logger()
    try:
        settings, vault_settings = resolve_settings(connection)
    except ProcessMakerPrefectError as exc:  # a block that cannot be loaded or is incomplete
        logger.error("FAIL configuration  %s", exc)
        return [CheckResult("configuration", False, f"{type(exc).__name__}: {exc}").__dict__]
    results = []
    for result in run_checks(settings, vault_settings):
        log = logger.error if not result.ok else logger.warning if result.warning else logger.info
        log("%-4s %-13s %s", _mark(result.__dict__), result.name, result.detail)
        results.append(result.__dict__.copy())
    return results


def _run_name() -> str:
    if parameter("every_block") and not parameter("connection"):
        return run_name("healthcheck every block")
    return run_name(f"healthcheck {connection_label()}")


def expiry_table(rows: list[dict[str, str]]) -> list[str]:
    """Markdown lines of the credential expiry table (none when the checks stopped early)."""
    if not rows:
        return []
    keys = ("credential", "expires", "in", "source", "attention")
    return [
        "",
        "## Credential expiry",
        "",
        *markdown.table(
            ("credential", "expires", "in", "how it is known", "attention"),
            [[row[k] for k in keys] for row in rows],
        ),
    ]


@flow(
    name="processmaker-healthcheck",
    flow_run_name=_run_name,
    description="Vault, credentials, token and one API call; fails when any check fails.",
)
def healthcheck(
    connection: ConnectionParameter = None, every_block: bool = False
) -> list[dict[str, Any]]:
    """Run the doctor checks; the flow run fails, naming the first failure, when one fails.

    The artifact lists the checks, then when each credential in use expires; a credential
    within PROCESSMAKER_EXPIRY_WARNING_DAYS also emits ``processmaker.credential.expiring``.

    Args:
        connection: A ProcessMaker Connection block; empty: the worker's environment.
        every_block: Check every saved ProcessMaker Connection block, one after the other
            (the scheduled healthcheck does); with no block saved, the environment.

    Example:
        ```python
        healthcheck(every_block=True)  # what the hourly schedule runs
        ```
    """
    if every_block and connection is None:
        names: list[str | None] = [*saved_connection_names()] or [None]
    else:
        names = [connection_name(connection)]
    results: list[dict[str, Any]] = []
    sections: list[str] = []
    failed: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        label = name or "environment"
        checks = run_processmaker_checks.with_options(task_run_name=f"checks {label}")(name)
        results += [{**r, "connection": label} for r in checks]
        failed += [(label, r) for r in checks if not r["ok"]]
        sections.append(_report(checks, [r for r in checks if not r["ok"]], label, len(names)))
    create_markdown_artifact(key="processmaker-health", markdown="\n\n".join(sections))
    if failed:
        where, first = failed[0]
        blocks = sorted({label for label, _ in failed})
        prefix = f"{where}: " if len(names) > 1 else ""
        also = (
            f" ({len(blocks)} of {len(names)} failed: {', '.join(blocks)})"
            if len(names) > 1
            else ""
        )
        raise HealthcheckFailed(f"{prefix}{first['name']} check failed: {first['detail']}{also}")
    return results


def _report(
    results: list[dict[str, Any]], failed: list[dict[str, Any]], label: str, of: int
) -> str:
    rows = [(r["name"], _mark(r), r["detail"] if r["ok"] else "see below") for r in results]
    title = (
        f"# ProcessMaker health: {markdown.escape(label)}" if of > 1 else "# ProcessMaker health"
    )
    return "\n".join(
        [
            title,
            "",
            *markdown.table(("check", "result", "detail"), rows),
            *markdown.failures("Failed check", [(r["name"], r["detail"]) for r in failed]),
            # Last: when each credential in use expires (empty if the checks stopped early).
            *expiry_table([row for r in results for row in r.get("rows", ())]),
        ]
    )


def _mark(result: dict[str, Any]) -> str:
    return "FAIL" if not result["ok"] else "warn" if result.get("warning") else "ok"
