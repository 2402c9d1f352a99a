"""``pm-prefect doctor`` as a user runs it: a subprocess against OpenBao and the sandbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ["configuration", "vault", "secret", "grant", "token", "api", "expiry"]


def subprocess_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without any VAULT_*/PROCESSMAKER_*, plus ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VAULT_", "BAO_", "PROCESSMAKER_", "PREFECT_API_"))
    }
    # No retries against a server that is down: a failure is reported at once.
    return {**base, "PROCESSMAKER_RETRIES": "0", **env, **extra}


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m flows.cli ARGS`` (what the ``pm-prefect`` script runs), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "processmaker_prefect.flows.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def doctor(stack: PmStack, **extra: str) -> tuple[int, list[str], str]:
    result = run_cli("doctor", env=subprocess_env(stack.env, **extra))
    output = result.stdout + result.stderr
    for secret in stack.secret_values():
        assert secret not in output
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout.splitlines(), result.stderr


def assert_fails_at(lines: list[str], check: str, *fragments: str) -> str:
    """Every check before ``check`` passed; ``check`` is the one FAIL line, and the last."""
    names = CHECKS[: CHECKS.index(check)]
    assert [line.split()[:2] for line in lines[:-1]] == [["ok", name] for name in names]
    failure = lines[-1]
    assert failure.split()[:2] == ["FAIL", check]
    for fragment in fragments:
        assert fragment in failure
    return failure


def test_all_checks_pass_one_line_each_values_masked(pm_stack: PmStack) -> None:
    status, lines, stderr = doctor(pm_stack)
    assert status == 0, stderr
    lines = [line for line in lines if not line.startswith(" ")]  # the expiry table's rows
    assert [line.split()[:2] for line in lines] == [["ok", name] for name in CHECKS]
    by_name = {line.split()[1]: line for line in lines}
    assert "client_secret=****" in by_name["secret"]
    assert "password=****" in by_name["secret"]
    assert "password (inferred from the secret's keys)" in by_name["grant"]
    assert "obtained with the password grant" in by_name["token"]
    assert by_name["api"].endswith("GET /api/1.0/users/1 -> authenticated as admin")


def test_unset_setting_is_one_clear_line(pm_stack: PmStack) -> None:
    env = {k: v for k, v in pm_stack.env.items() if k != "PROCESSMAKER_URL"}
    result = run_cli("doctor", env=subprocess_env(env))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "FAIL configuration ConfigurationError: Invalid configuration: PROCESSMAKER_URL is "
        "required (set it in the environment or in the Prefect block)"
    ]


def test_plain_http_to_a_remote_host_fails_the_configuration_check(pm_stack: PmStack) -> None:
    status, lines, _ = doctor(pm_stack, PROCESSMAKER_URL="http://pm.example.com")
    assert status == 1
    assert_fails_at(
        lines,
        "configuration",
        "Refusing plain HTTP to pm.example.com",
        "set PROCESSMAKER_ALLOW_INSECURE_HTTP=1",
    )


def test_vault_unreachable(pm_stack: PmStack) -> None:
    port = closed_port()
    status, lines, _ = doctor(pm_stack, VAULT_ADDR=f"http://127.0.0.1:{port}")
    assert status == 1
    assert_fails_at(
        lines,
        "vault",
        f"VaultUnavailableError: Vault at http://127.0.0.1:{port} is unreachable",
        "check VAULT_ADDR",
    )


def test_wrong_vault_token(pm_stack: PmStack) -> None:
    status, lines, _ = doctor(pm_stack, VAULT_TOKEN="s.not-a-real-token-0123456789")
    assert status == 1
    failure = assert_fails_at(lines, "vault", "VaultAuthError:", "check VAULT_TOKEN")
    assert "not-a-real-token" not in failure


def test_missing_secret_path(pm_stack: PmStack) -> None:
    missing = pm_stack.path + "-missing"
    status, lines, _ = doctor(pm_stack, PROCESSMAKER_SECRET=missing)
    assert status == 1
    assert_fails_at(
        lines, "secret", f"VaultNotFoundError: No Vault secret at {missing}", "PROCESSMAKER_SECRET"
    )


def test_missing_key(pm_stack: PmStack) -> None:
    credentials = pm_stack.password_credentials()
    del credentials["password"]
    pm_stack.put(**credentials)
    status, lines, _ = doctor(pm_stack)
    assert status == 1
    assert_fails_at(
        lines,
        "grant",
        f"VaultKeyMissingError: Vault secret {pm_stack.path} has no 'password'",
        f"bao kv patch {pm_stack.path} password=...",
    )


def test_wrong_password_is_invalid_grant(pm_stack: PmStack) -> None:
    pm_stack.put(**{**pm_stack.password_credentials(), "password": "wrong-password-4711"})
    status, lines, _ = doctor(pm_stack)
    assert status == 1
    failure = assert_fails_at(
        lines,
        "token",
        "TokenRejectedError: POST",
        "-> 400 invalid_grant for the password grant",
        "check the credentials",
        f"(Vault secret {pm_stack.path})",
    )
    assert "wrong-password-4711" not in failure


def test_wrong_client_secret_is_invalid_client(pm_stack: PmStack) -> None:
    pm_stack.put(**{**pm_stack.password_credentials(), "client_secret": "wrong-client-secret-4711"})
    status, lines, _ = doctor(pm_stack)
    assert status == 1
    failure = assert_fails_at(
        lines, "token", "-> 401 invalid_client for the password grant", "check client_id"
    )
    assert "wrong-client-secret-4711" not in failure


def test_processmaker_down(pm_stack: PmStack) -> None:
    port = closed_port()
    status, lines, _ = doctor(pm_stack, PROCESSMAKER_URL=f"http://127.0.0.1:{port}")
    assert status == 1
    assert_fails_at(
        lines,
        "token",
        f"TokenEndpointUnavailableError: POST http://127.0.0.1:{port}/oauth/token failed",
        "check PROCESSMAKER_URL and that ProcessMaker is up",
    )
