"""``pm-prefect sync``: check what a run needs in seconds, run the flow, print its report.

The order is the point. Arguments, the destination URL (a password in it is refused before
any run could store it), the settings, Vault, the secret and the destination are checked
first, without Prefect (``doctor``'s checks: a failure is one line within seconds, not a
traceback after Prefect started). Only then does a Prefect API come up (the configured one,
or a private temporary server, see :mod:`processmaker_prefect.flows.local_prefect`), the
flow runs, and the report the run's artifact holds is printed here: a temporary server's
artifact is gone when the command exits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console

# Light at import: the argument checks answer without Prefect, hvac or DuckDB; what the
# checks after them need is imported where it is used.
from processmaker_prefect import (
    ConfigurationError,
    ProcessMakerPrefectError,
    password_in_url,
    redact_userinfo,
    resource_for,
)

if TYPE_CHECKING:
    from processmaker_prefect import ProcessMakerSettings, VaultSettings

__all__ = [
    "PreflightError",
    "SyncCancelled",
    "parse_collections",
    "parse_filters",
    "preflight",
    "run_sync",
    "shown",
]

# doctor's checks a sync needs before it starts; the token and the API call come with the
# first page (a refused token is one line from the flow too).
PREFLIGHT = ("configuration", "vault", "secret", "grant")


_ARTIFACT = "see the artifact"


class PreflightError(ProcessMakerPrefectError):
    """A check a sync needs failed before any flow started (as ``pm-prefect doctor`` says)."""


class SyncCancelled(ProcessMakerPrefectError):
    """The run was cancelled (another sync of the destination holds it, or by a person)."""


def refuse_password(destination: str) -> None:
    """Raise when ``destination`` holds a password: before it is printed or stored anywhere.

    Raises:
        ConfigurationError: naming where the password is, never the URL.
    """
    if where := password_in_url(destination):
        raise ConfigurationError(
            f"The destination URL holds a password in {where}: flow parameters are stored by "
            "Prefect, so put it in PGPASSWORD or ~/.pgpass and pass "
            "--destination postgresql://user@host/db"
        )


def shown(destination: str) -> str:
    """The destination for the terminal: no query (options), and no password, refused before."""
    if password_in_url(destination):
        return redact_userinfo(destination)
    return destination.partition("?")[0]


def parse_collections(text: str) -> list[int]:
    """``"3, 7"`` -> ``[3, 7]``.

    Raises:
        ConfigurationError: an id is not a number, naming it and the form to use.
    """
    ids: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or int(item) == 0:
            raise ConfigurationError(
                f"--collections {item!r} is not a collection id: give the numeric ids "
                "ProcessMaker shows under Collections, e.g. --collections 3,7"
            )
        ids.append(int(item))
    return ids


def parse_filters(items: list[str]) -> dict[str, str]:
    """``["requests=process_id = 5"]`` -> ``{"requests": "process_id = 5"}``.

    Raises:
        ConfigurationError: an item is not RESOURCE=PMQL.
    """
    pairs = [item.partition("=") for item in items]
    for item, (name, sep, pmql) in zip(items, pairs, strict=True):
        if not sep or not name.strip() or not pmql.strip():
            raise ConfigurationError(
                f"--filter {item!r} is not RESOURCE=PMQL: write e.g. "
                "--filter 'requests=process_id = 5'"
            )
    return {resource_for(name.strip()).name: pmql.strip() for name, _, pmql in pairs}


def resource_names(text: str, filters: dict[str, str]) -> list[str]:
    """The catalogue's names for ``--resources`` (``security-logs`` -> ``security_logs``).

    Raises:
        ConfigurationError: an unknown or refused resource, or a filter it cannot take.
    """
    names = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            resource = resource_for(item)
            resource.with_filter(filters.get(resource.name))  # a route that takes no PMQL
            names.append(resource.name)
    if not names:
        raise ConfigurationError("--resources names no resource: e.g. --resources requests,tasks")
    if unknown := sorted(set(filters) - set(names)):
        raise ConfigurationError(
            f"--filter names resources not synced: {', '.join(unknown)}; add them to --resources"
        )
    return names


def preflight(destination: str, settings: tuple[ProcessMakerSettings, VaultSettings]) -> str:
    """``doctor``'s checks a sync needs, then the destination opened once; no Prefect.

    Returns:
        The destination the run writes: the instance's own default file for the default.

    Raises:
        PreflightError: the first check that failed, with its cause and fix.
        ProcessMakerPrefectError: the destination cannot be opened (locked, unreachable).
    """
    from processmaker_prefect import default_destination, open_destination, run_checks

    pm, vault = settings
    destination = default_destination(pm.url, destination)
    for result in run_checks(pm, vault):
        if not result.ok:
            raise PreflightError(
                f"{result.name} check failed: {result.detail} (pm-prefect doctor runs every check)"
            )
        if result.name == PREFLIGHT[-1]:
            break
    with open_destination(destination):
        pass  # opened and closed: locked, unreachable or refused fails here
    return destination


def environment_settings() -> tuple[ProcessMakerSettings, VaultSettings]:
    """The settings of the environment (VAULT_*, PROCESSMAKER_*), or one line naming what is off."""
    from processmaker_prefect import ProcessMakerSettings, VaultSettings, load_settings

    return load_settings(ProcessMakerSettings), load_settings(VaultSettings)


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[str, int], None]]:
    """A live table of rows per resource while the run goes; cleared when it ends."""
    from rich.live import Live
    from rich.table import Table

    from processmaker_prefect import progress_listeners

    counts: dict[str, int] = {}

    def render() -> Table:
        table = Table()
        table.add_column("resource")
        table.add_column("rows", justify="right")
        for name, rows in counts.items():
            table.add_row(name, f"{rows:,}")
        return table

    with Live(render(), console=console, refresh_per_second=4, transient=True) as live:

        def on_progress(resource: str, rows: int) -> None:
            counts[resource] = rows
            live.update(render())

        progress_listeners.append(on_progress)
        try:
            yield on_progress
        finally:
            progress_listeners.remove(on_progress)


def _report(flow_run_id: Any) -> str | None:
    """The markdown of the run's ``processmaker-sync`` artifact, if it made one."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                key=ArtifactFilterKey(any_=["processmaker-sync"]),
            ),
            limit=1,
        )
    return str(found[0].data) if found and found[0].data else None


def _terminal_blocks(report: str) -> list[Any]:
    """The report's Markdown for a terminal: its tables as rich tables whose cells fold
    instead of being cut to "…" (80 columns in a pipe hold seven columns only so), the rest
    as Markdown."""
    from rich import box
    from rich.table import Column, Table

    blocks: list[Any] = []
    text: list[str] = []
    rows: list[list[str]] = []

    def cells(line: str) -> list[str]:
        parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        # Markdown's backslash escapes (markdown.escape) are for the UI, not the terminal.
        return [re.sub(r"\\(.)", r"\1", part.strip()) for part in parts]

    def flush_table() -> None:
        if not rows:
            return
        header, align, *body = rows
        columns = [
            Column(
                name,
                overflow="fold",
                # The row's name and its outcome stay whole, to read and to grep.
                no_wrap=index in (0, len(header) - 1),
                justify="right" if spec.endswith(":") else "left",
            )
            for index, (name, spec) in enumerate(zip(header, align, strict=False))
        ]
        table = Table(*columns, box=box.SIMPLE_HEAD)  # as rich draws a Markdown table
        for row in body:
            table.add_row(*row)
        blocks.append(table)
        rows.clear()

    for line in report.splitlines():
        if line.startswith("|"):
            if text:
                blocks.append("\n".join(text))
                text.clear()
            rows.append(cells(line))
        else:
            flush_table()
            text.append(line)
    flush_table()
    if text:
        blocks.append("\n".join(text))
    return blocks


def run_sync(parameters: dict[str, Any], console: Console) -> int:
    """Run the sync flow with ``parameters`` (checked already) and print its report.

    Raises:
        SyncCancelled: the run was cancelled.
        ProcessMakerPrefectError: the run failed; the report was printed first.
    """
    from rich.markdown import Markdown

    from processmaker_prefect.flows.sync import sync as sync_flow

    with _progress(console):
        state = sync_flow(**parameters, return_state=True)
    report = _report(state.state_details.flow_run_id)
    if report:
        for block in _terminal_blocks(report):
            console.print(block if not isinstance(block, str) else Markdown(block))
    if state.is_cancelled():
        raise SyncCancelled(
            (state.message or "the run was cancelled")
            + "; nothing more was written, rerun to resume from the watermark"
        )
    try:
        state.result(raise_on_failure=True)  # a failed run raises its error: one line in main()
    except ProcessMakerPrefectError as exc:
        text = str(exc)
        if not (report and text.endswith(_ARTIFACT)):
            raise
        # The temporary server and its artifact are gone: the report is printed above.
        raise type(exc)(text.removesuffix(_ARTIFACT) + "see the report above") from None
    return 0
