"""``pm-prefect login`` in a subprocess: consent driven over HTTP, refresh token into Vault."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures.stack import PmStack
from tests.test_auth_pkce_login import consent
from tests.test_cli_doctor import CHECKS, ROOT, run_cli, subprocess_env

pytestmark = pytest.mark.integration


@pytest.fixture
def client_only(pm_stack: PmStack) -> PmStack:
    """The secret holds only the Auth Client: login has to bring the refresh token."""
    config = pm_stack.sandbox.config
    pm_stack.put(client_id=config.client_id, client_secret=config.client_secret)
    return pm_stack


def start_login(stack: PmStack, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``pm-prefect login ARGS``; return it and the authorize URL it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "processmaker_prefect.flows.cli", "login", "--no-browser", *args],
        env=subprocess_env(stack.env, PYTHONUNBUFFERED="1"),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # ends at EOF if the CLI exits early: then the assert fails
        if "/oauth/authorize?" in line:
            return process, line.strip()
    process.kill()
    pytest.fail(f"no authorize URL printed; stderr: {process.communicate()[1]}")


def finish(process: subprocess.Popen[str], answer: str | None = None) -> tuple[str, str]:
    """Answer the CLI's prompt (if any) and collect the rest of its output.

    Reads through the same buffered stdout that :func:`start_login` read from: what the CLI
    printed right after the URL may already sit in that buffer, where ``communicate`` (which
    reads the raw pipe) would never see it.
    """
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    if answer is not None:
        process.stdin.write(answer)
    process.stdin.close()
    out, err = process.stdout.read(), process.stderr.read()
    process.wait(timeout=30)
    return out, err


def stored_refresh_token(stack: PmStack) -> tuple[str | None, int]:
    mount, _ = stack.vault.mount_of(stack.path)
    body = stack.vault.client.secrets.kv.v2.read_secret_version(
        path=stack.path[len(mount) + 1 :], mount_point=mount, raise_on_deleted_version=True
    )
    return body["data"]["data"].get("refresh_token"), int(body["data"]["metadata"]["version"])


def assert_no_secret(stack: PmStack, text: str, *more: str) -> None:
    for secret in [*stack.secret_values(), *more]:
        assert secret not in text


def test_login_with_loopback_redirect_then_doctor_uses_the_refresh_grant(
    client_only: PmStack,
) -> None:
    _, version_before = stored_refresh_token(client_only)
    process, url = start_login(client_only)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    redirect_uri = query["redirect_uri"][0]
    assert redirect_uri.startswith("http://127.0.0.1:")
    location = consent(url)
    assert location.startswith(redirect_uri + "?")
    landing = requests.get(location, timeout=10)  # to the CLI's own listener
    assert landing.status_code == 200
    out, err = finish(process)
    assert process.returncode == 0, err
    refresh_token, version = stored_refresh_token(client_only)
    assert refresh_token
    assert version == version_before + 1
    assert (
        f"ok refresh token stored in {client_only.path} (version {version}); scheduled runs "
        "will use the refresh_token grant.\n"
    ) in out
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert_no_secret(client_only, out + err, refresh_token, code)

    doctor = run_cli(
        "doctor", env=subprocess_env(client_only.env, PROCESSMAKER_AUTH="refresh_token")
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    # The check lines; the expiry table's rows are indented under the last one.
    lines = [line for line in doctor.stdout.splitlines() if not line.startswith(" ")]
    assert [line.split()[:2] for line in lines] == [["ok", name] for name in CHECKS]
    assert "refresh_token (PROCESSMAKER_AUTH)" in lines[3]
    assert "obtained with the refresh_token grant" in lines[4]
    assert lines[5].endswith("authenticated as admin")
    rotated, _ = stored_refresh_token(client_only)
    assert rotated != refresh_token  # the doctor's refresh rotated it, and stored the new one
    assert_no_secret(client_only, doctor.stdout + doctor.stderr, refresh_token, str(rotated))


def test_paste_mode_reads_the_redirect_url_from_stdin(client_only: PmStack) -> None:
    process, url = start_login(client_only, "--paste")
    location = consent(url)  # the browser would fail to load it: nobody follows it here
    out, err = finish(process, location + "\n")
    assert process.returncode == 0, err
    assert "Paste the URL you were redirected to:" in out
    refresh_token, _ = stored_refresh_token(client_only)
    assert refresh_token
    assert f"ok refresh token stored in {client_only.path}" in out
    assert_no_secret(client_only, out + err, refresh_token)


def test_login_says_when_runs_would_still_use_another_grant(pm_stack: PmStack) -> None:
    """The secret still holds username and password: inference would keep the password."""
    process, url = start_login(pm_stack, "--paste")
    out, err = finish(process, consent(url) + "\n")
    assert process.returncode == 0, err
    assert out.rstrip().endswith(
        "; runs still use the password grant: set PROCESSMAKER_AUTH=refresh_token to use it."
    )


def test_paste_mode_with_nothing_pasted_is_one_error_line(client_only: PmStack) -> None:
    process, _ = start_login(client_only, "--paste")
    _, err = finish(process, "")
    assert process.returncode == 1
    assert "Traceback" not in err
    assert " ".join(err.split()) == (
        "error ConfigurationError: No redirect URL was pasted: approve the client in the "
        "browser, then paste the whole URL it was redirected to"
    )


def test_denied_consent_is_one_error_line_and_nothing_stored(client_only: PmStack) -> None:
    process, url = start_login(client_only, "--paste")
    location = consent(url, approve=False)
    _, err = finish(process, location + "\n")
    assert process.returncode == 1
    assert "Traceback" not in err
    # Whitespace-normalized: main() lets rich wrap its error line at 80 columns (reported).
    assert " ".join(err.split()) == (
        "error TokenRejectedError: Authorization failed: access_denied (no detail); "
        "run `pm-prefect login` again and approve the client"
    )
    assert stored_refresh_token(client_only)[0] is None
