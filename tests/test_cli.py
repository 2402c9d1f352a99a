"""``pm-prefect`` without servers: help, version, usage errors and refused input, one line each.

Each case runs the real command in a subprocess. What must answer without Prefect, hvac or
DuckDB is checked with ``python -X importtime``: the modules it lists are the ones imported.
"""

from __future__ import annotations

import re
import socket
import subprocess
from importlib.metadata import version
from pathlib import Path

import psycopg
import pytest

from processmaker_prefect import ConfigurationError, ProcessMakerSettings, load_settings
from processmaker_prefect.url_credentials import NO_PASSWORD_PATTERN, password_in_url
from tests.fixtures.cli import ROOT, assert_one_error_line, cli_command, run_cli

HEAVY = ("prefect", "hvac", "duckdb")
COMMANDS = ("doctor", "login", "sandbox", "demo", "sync", "sql", "automations")
PASSWORD = "Pw-0f-the-t3st"  # what must never be printed or accepted

# Every spelling of a password libpq accepts in a connection string (checked against the
# driver below), and two that only look odd.
WITH_PASSWORD = [
    f"postgresql://pm:{PASSWORD}@db.example.com/pm",
    f"postgres://pm:{PASSWORD}@db.example.com:5432/pm",
    f"postgresql://:{PASSWORD}@db.example.com/pm",
    f"postgresql://pm:{PASSWORD}%40x@db.example.com/pm",
    f"postgresql://pm:{PASSWORD}@h1:5432,h2:5433/pm?target_session_attrs=read-write",
    f"postgresql://db.example.com/pm?password={PASSWORD}",
    f"postgresql://db.example.com/pm?user=pm&password={PASSWORD}",
    f"postgresql://db.example.com/pm?pass%77ord={PASSWORD}",
    f"postgresql://db.example.com/pm?%70%61%73%73%77%6f%72%64={PASSWORD}",
    f"postgresql://db.example.com/pm?sslpassword={PASSWORD}",
    f"postgresql:///pm?host=/var/run/postgresql&password={PASSWORD}",
]
LOOK_ALIKE = [  # refused too: nobody needs them to name a database, and they hide a password
    f"postgresql://db.example.com/pm?PASSWORD={PASSWORD}",
    f"host=db.example.com password={PASSWORD}",
]
WITHOUT_PASSWORD = [
    "postgresql://pm@db.example.com/pm",
    "postgresql://db.example.com:5432/pm?sslmode=verify-full&application_name=pm",
    "postgresql://pm@db.example.com/pm?passfile=/etc/pm/pgpass",
    "postgresql://pm%3Aadmin@db.example.com/pm",  # a user name holding a colon
    "duckdb:///~/processmaker-prefect/processmaker.duckdb",
    "duckdb:////srv/pm/p@ss:word.duckdb?memory_limit=2GB",
]


def imported(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """The top-level packages ``pm-prefect ARGS`` imported, and its stderr."""
    done = subprocess.run(
        [*cli_command(*args)[:1], "-X", "importtime", *cli_command(*args)[1:]],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    names = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return names, done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("sync", "--help"),
        ("sync", "--no-such-flag"),
        ("sync", "--collections", "abc"),
        ("sync", "--resources", "requestz"),
        ("sync", "--destination", f"postgresql://db/pm?pass%77ord={PASSWORD}"),
        ("synk",),
    ],
)
def test_help_version_and_argument_errors_import_no_prefect_hvac_or_duckdb(
    args: tuple[str, ...],
) -> None:
    names, output = imported(*args)
    assert "processmaker_prefect" in names, output  # the list is real
    assert not names & set(HEAVY), f"{args} imported {sorted(names & set(HEAVY))}"


def test_version_is_the_installed_package_version(tmp_path: Path) -> None:
    done = run_cli({}, tmp_path, "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == version("processmaker-prefect")
    assert not done.stdout.strip().startswith("0.0.0")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_reads_right_in_80_columns(command: str, tmp_path: Path) -> None:
    done = run_cli({"COLUMNS": "80"}, tmp_path, *command.split(), "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), done.stdout
    assert "--empty-" not in done.stdout  # cyclopts' negative of a list option
    assert not re.search(r"\b[A-Z]+_(?=[\s,)])", done.stdout), "an env var lost its *"
    if command == "login":
        assert "http://127.0.0.1:<port>/callback" in done.stdout
    if command in ("", "doctor", "sync"):
        assert "VAULT_*" in done.stdout
        assert "PROCESSMAKER_*" in done.stdout
    if command:  # every option it takes is described
        assert "Usage: pm-prefect " + command in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("sync", "--no-such-flag"), r"Unknown option: --no-such-flag.* \(see pm-prefect sync"),
        (("sync", "--full-refresh=maybe"), r"--full-refresh.*maybe"),
        (("sandbox", "--port", "eighty"), r"--port.*eighty"),
        (("synk",), r'Did you mean "sync"'),
        (("automations",), r"--notify"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    args: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    line = assert_one_error_line(run_cli({}, tmp_path, *args), code=2)
    assert re.search(says, line), line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("sync", "--collections", "abc"),
            r"--collections 'abc' is not a collection id: .* e\.g\. --collections 3,7",
        ),
        (("sync", "--collections", "3,x7"), r"'x7' is not a collection id"),
        (("sync", "--resources", "requestz"), r"Unknown resource 'requestz': did you mean"),
        (("sync", "--filter", "requests"), r"is not RESOURCE=PMQL"),
        (
            ("sync", "--resources", "requests", "--filter", "tasks=status = 'ACTIVE'"),
            r"--filter names resources not synced: tasks; add them to --resources",
        ),
        (("sync", "--destination", "mysql://db/pm"), r"Unsupported destination URL scheme"),
        (("sql", "select 1", "--destination", "duckdb:///nowhere/x.duckdb"), r"No DuckDB file"),
        (("sync", "--connection", "prod"), r"--connection 'prod' names a block .* PREFECT_API_URL"),
        (("sql", "", "--destination", "duckdb:///x.duckdb"), r"The query is empty"),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(
    args: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    line = assert_one_error_line(run_cli({}, tmp_path, *args))
    assert re.search(says, line), line


def test_no_environment_is_one_line_before_prefect_starts(tmp_path: Path) -> None:
    # An unreachable PREFECT_API_URL: had the command gone to Prefect before checking the
    # settings, it would fail on Prefect instead.
    done = run_cli({"PREFECT_API_URL": "http://127.0.0.1:9/api"}, tmp_path, "sync")
    line = assert_one_error_line(done)
    assert "PROCESSMAKER_URL is required" in line
    assert "PROCESSMAKER_SECRET is required" in line


def test_vault_unreachable_is_one_line_before_prefect_starts(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
        "VAULT_ADDR": f"http://127.0.0.1:{port}",
        "VAULT_TOKEN": "hvs.not-a-real-token-but-secret",
        "VAULT_MAX_RETRIES": "0",
        "PROCESSMAKER_URL": "https://pm.example.com",
        "PROCESSMAKER_SECRET": "secret/processmaker/prod",
    }
    done = run_cli(env, tmp_path, "sync", secrets=["hvs.not-a-real-token-but-secret"])
    line = assert_one_error_line(done)
    assert line.startswith("error PreflightError: vault check failed: "), line
    assert f"127.0.0.1:{port}" in line


@pytest.mark.parametrize("url", WITH_PASSWORD + LOOK_ALIKE)
def test_a_password_in_the_destination_is_refused_before_anything(url: str, tmp_path: Path) -> None:
    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}  # never reached
    done = run_cli(env, tmp_path, "sync", "--destination", url, secrets=[PASSWORD])
    line = assert_one_error_line(done)
    assert "holds a password" in line
    assert "PGPASSWORD" in line


@pytest.mark.parametrize("url", WITH_PASSWORD)
def test_the_refused_spellings_are_the_drivers_own(url: str) -> None:
    assert psycopg.conninfo.conninfo_to_dict(url).keys() & {"password", "sslpassword"}
    assert password_in_url(url)
    assert not re.match(NO_PASSWORD_PATTERN, url)


@pytest.mark.parametrize("url", WITHOUT_PASSWORD)
def test_urls_without_a_password_pass(url: str) -> None:
    if url.startswith("postgres"):
        assert not psycopg.conninfo.conninfo_to_dict(url).keys() & {"password", "sslpassword"}
    assert password_in_url(url) is None
    assert re.match(NO_PASSWORD_PATTERN, url)


@pytest.mark.parametrize(
    "url",
    [f"https://admin:{PASSWORD}@pm.example.com", "https://admin@pm.example.com/"],
)
def test_userinfo_in_processmaker_url_is_refused(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_URL", url)
    monkeypatch.setenv("PROCESSMAKER_SECRET", "secret/processmaker/prod")
    with pytest.raises(ConfigurationError, match=r"^Invalid configuration: PROCESSMAKER_URL "):
        load_settings(ProcessMakerSettings)
    env = {"PROCESSMAKER_URL": url, "PROCESSMAKER_SECRET": "secret/processmaker/prod"}
    for command in ("doctor", "sync"):
        done = run_cli(env, tmp_path, command, secrets=[PASSWORD])
        assert done.returncode == 1
        assert "PROCESSMAKER_URL" in done.stdout + done.stderr
        assert "vault secret" in (done.stdout + done.stderr).lower()


def test_automations_without_a_prefect_server_is_one_line(tmp_path: Path) -> None:
    line = assert_one_error_line(run_cli({}, tmp_path, "automations", "--notify", "a/b"))
    assert "set PREFECT_API_URL" in line
    assert not (tmp_path / ".prefect").exists()


def test_an_unreachable_prefect_api_is_one_line(tmp_path: Path) -> None:
    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}
    line = assert_one_error_line(run_cli(env, tmp_path, "automations", "--notify", "a/b"))
    assert line.startswith("error PrefectServerError: The Prefect API at http://127.0.0.1:9/api")


def test_sandbox_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli({}, tmp_path, "sandbox", "--port", str(port), "--records", "10")
    line = assert_one_error_line(done)
    assert f"Cannot listen on 127.0.0.1:{port}" in line
    assert "--port 0" in line


def test_the_docs_page_shows_what_the_commands_print(tmp_path: Path) -> None:
    # docs/pages/cli.md quotes the top-level help and the usage errors: they must be real.
    page = (ROOT / "docs" / "pages" / "cli.md").read_text()
    blocks = re.findall(r"```text\n(.*?)```", page, flags=re.DOTALL)
    help_block = next(block for block in blocks if block.startswith("$ pm-prefect --help\n"))
    shown = [line.rstrip() for line in help_block.splitlines()[1:]]
    done = run_cli({"COLUMNS": "80"}, tmp_path, "--help")
    assert shown == [line.rstrip() for line in done.stdout.splitlines()]
    for command in (("synk",), ("sync", "--bogus"), ("sync", "--collections", "abc")):
        line = run_cli({}, tmp_path, *command).stderr.strip()
        assert f"$ pm-prefect {' '.join(command)}\n{line}\n" in page, line
