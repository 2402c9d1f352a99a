"""``pm-prefect sync`` as a user runs it: the report in the terminal, one line per failure.

Every command here runs in a subprocess with its own temporary Prefect (no PREFECT_API_URL),
and its output is scanned for every credential the stack holds.
"""

from __future__ import annotations

import re
import signal
import socket
import time
import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest

from tests.fixtures.cli import assert_one_error_line, run_cli, spawn_cli
from tests.fixtures.stack import PmStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sync(stack: PmStack, home: Path, *args: str) -> tuple[int, str, str]:
    done = run_cli(stack.env, home, "sync", *args, secrets=stack.secret_values())
    return done.returncode, done.stdout, done.stderr


def test_sync_prints_its_title_on_one_line_and_the_runs_report(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    destination = f"duckdb:///{tmp_path / 'a-rather-long-directory-name' / 'pm.duckdb'}"
    code, out, err = sync(pm_stack, tmp_path / "home", "--resources", "groups,users",
                          "--destination", destination)  # fmt: skip
    assert code == 0, err[-3000:]
    assert f"Syncing into {destination}" in out.splitlines()[0]
    # The artifact's table, rendered here: the temporary server is gone afterwards.
    assert re.search(r"resource\s+rows\s+pages\s+watermark\s+seconds", out), out
    assert re.search(r"groups\s+\d+\s+\d+\s", out)
    assert re.search(r"users\s+\d+\s+\d+\s", out)
    for noise in ("ERROR", "Traceback", "telemetry", "database is locked"):
        assert noise not in out + err


def test_an_unknown_resource_is_one_line(pm_stack: PmStack, tmp_path: Path) -> None:
    done = run_cli(pm_stack.env, tmp_path / "home", "sync", "--resources", "request")
    assert re.fullmatch(
        r"error ConfigurationError: Unknown resource 'request': did you mean requests\? use a "
        r"list route of ProcessMaker's API \(requests, .*, collection:<id>\)",
        assert_one_error_line(done),
    )


def test_reconcile_of_requests_succeeds_and_prints_its_report(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    destination = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    code, _, err = sync(pm_stack, tmp_path / "home", "--resources", "requests",
                        "--destination", destination)  # fmt: skip
    assert code == 0, err[-3000:]
    code, out, err = sync(pm_stack, tmp_path / "home", "--reconcile", "--resources", "requests",
                          "--destination", destination)  # fmt: skip
    assert code == 0, err[-3000:]
    assert re.search(r"ids listed\s+marked deleted", out), out
    assert re.search(r"requests\s+[\d,]+\s+0\s", out), out
    assert err == ""


def test_a_route_the_sandbox_lacks_prints_the_report_then_one_line(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    # security-logs is a list route of ProcessMaker's spec the sandbox does not serve (404).
    destination = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    code, out, err = sync(pm_stack, tmp_path / "home", "--resources", "security-logs,groups",
                          "--destination", destination)  # fmt: skip
    assert code == 1
    assert "Traceback" not in out + err, out + err
    assert re.search(r"security_logs\s+.*failed \(below\)", out), out
    assert re.search(r"groups\s+\d+\s+\d+\s", out), out  # the other resource still synced
    (line,) = err.splitlines()
    assert line.startswith("error SyncFailed: 1 of 2 resources failed (first: security_logs: ")
    assert line.endswith("; 1 synced, 0 not tried; see the report above")


def test_a_locked_duckdb_file_is_one_line_before_prefect_starts(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    path = tmp_path / "pm.duckdb"
    holder = duckdb.connect(str(path))  # this process writes the file: DuckDB locks it
    try:
        env = {**pm_stack.env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # never reached
        done = run_cli(env, tmp_path / "home", "sync", "--destination", f"duckdb:///{path}",
                       secrets=pm_stack.secret_values())  # fmt: skip
    finally:
        holder.close()
    line = assert_one_error_line(done)
    assert "database is locked by another process" in line
    assert "stop the other sync or use another file" in line


def test_eight_syncs_at_once_all_succeed(pm_stack: PmStack, tmp_path: Path) -> None:
    # One HOME and TMPDIR for all: they share the machine-wide start-up lock, and each brings
    # up a temporary Prefect server of its own in a private home under TMPDIR.
    home = tmp_path / "home"
    runs = [
        spawn_cli(
            pm_stack.env,
            home,
            "sync",
            "--resources",
            "groups",
            "--destination",
            f"duckdb:///{tmp_path / f'pm-{n}.duckdb'}",
        )
        for n in range(8)
    ]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
        assert "Traceback" not in out + err
        for secret in pm_stack.secret_values():
            assert secret not in out + err
    assert not list((home / "tmp").glob("pm-prefect-home-*")), "a private home was left"
    assert not (home / ".prefect").exists()


def test_no_command_prints_a_secret(pm_stack: PmStack, tmp_path: Path) -> None:
    # Every command but `sandbox` (its table shows the sandbox's own demo credentials on
    # purpose), on the stack whose credentials run_cli scans the output for.
    home, secrets = tmp_path / "home", pm_stack.secret_values()
    destination = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    doctor = run_cli(pm_stack.env, home, "doctor", secrets=secrets)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "ok   api" in doctor.stdout
    synced = run_cli(pm_stack.env, home, "sync", "--resources", "users,groups",
                     "--destination", destination, secrets=secrets)  # fmt: skip
    assert synced.returncode == 0, synced.stderr[-2000:]
    # The users table as stored: no column of it holds a credential either.
    query = run_cli(pm_stack.env, home, "sql", "select * from users", "--destination",
                    destination, secrets=secrets)  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert "…" not in query.stdout  # wide rows fold, not cut
    assert re.search(r"│\s+1\s+│\s+admin\s+│", run_cli(
        pm_stack.env, home, "sql", "select id, username from users order by id",
        "--destination", destination, secrets=secrets).stdout)  # fmt: skip
    login = run_cli(pm_stack.env, home, "login", "--paste", secrets=secrets)
    assert "Open this URL and approve the client" in login.stdout
    assert_one_error_line(login)  # nothing pasted: one line
    for args in (("--help",), ("--version",), ("sync", "--help"), ("demo", "--help")):
        assert run_cli(pm_stack.env, home, *args, secrets=secrets).returncode == 0


def test_a_temporary_prefect_server_not_starting_in_time_is_one_line(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    # No server answers within 0 seconds: the case of a machine too busy to start one.
    env = {**pm_stack.env, "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "0"}
    destination = f"duckdb:///{tmp_path / 'pm.duckdb'}"
    done = run_cli(env, tmp_path / "home", "sync", "--resources", "groups", "--destination",
                   destination, secrets=pm_stack.secret_values())  # fmt: skip
    line = assert_one_error_line(done)
    assert line.startswith("error PrefectServerError: The temporary Prefect server did not start")
    assert "PREFECT_API_URL" in line
    assert not list((tmp_path / "home" / "tmp").glob("pm-prefect-home-*"))


def test_login_on_a_busy_port_is_one_line(pm_stack: PmStack, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli(pm_stack.env, tmp_path / "home", "login", "--port", str(port),
                       "--no-browser", secrets=pm_stack.secret_values())  # fmt: skip
    line = assert_one_error_line(done)
    assert line.startswith(f"error ConfigurationError: Cannot listen on 127.0.0.1:{port} for ")


def test_a_terminated_sync_stops_its_temporary_prefect_and_removes_its_home(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    run = spawn_cli(pm_stack.env, home, "sync", "--resources", "groups",
                    "--destination", f"duckdb:///{tmp_path / 'pm.duckdb'}")  # fmt: skip
    deadline = time.monotonic() + 240
    while not list((home / "tmp").glob("pm-prefect-home-*/prefect.db")):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the temporary Prefect server never made its database"
        time.sleep(0.2)
    (private,) = (home / "tmp").glob("pm-prefect-home-*")
    assert _processes_with(f"PREFECT_HOME={private}".encode())  # the command and its server
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 143, err[-2000:]
    assert "Traceback" not in out + err
    assert not private.exists()
    assert not _processes_with(f"PREFECT_HOME={private}".encode()), "its Prefect server lives on"


def _processes_with(needle: bytes) -> list[str]:
    """Ids of the processes whose environment holds ``needle`` (Linux /proc)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes():
                found.append(environ.parent.name)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_sql_reads_a_postgresql_destination_and_refuses_to_write(
    postgres_url: str, tmp_path: Path
) -> None:
    database = f"cli_sql_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(f"create database {database}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("create table requests (id bigint, status text, name text)")
        con.execute("insert into requests values (1, 'ACTIVE', 'Año fiscal 2024 | Q1'), "
                    "(2, 'COMPLETED', NULL)")  # fmt: skip
    home = tmp_path / "home"
    done = run_cli({}, home, "sql", "select * from requests order by id", "--destination", url)
    assert done.returncode == 0, done.stderr
    assert re.search(r"│ 1\s+│ ACTIVE\s+│ Año fiscal 2024 \| Q1\s+│", done.stdout), done.stdout
    assert re.search(r"│ 2\s+│ COMPLETED\s+│ NULL\s+│", done.stdout), done.stdout
    assert done.stdout.rstrip().endswith("2 rows")
    write = run_cli({}, home, "sql", "delete from requests", "--destination", url)
    line = assert_one_error_line(write)
    assert "read-only transaction" in line
    with psycopg.connect(url) as con:
        assert con.execute("select count(*) from requests").fetchone() == (2,)
