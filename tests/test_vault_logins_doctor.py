"""``~/.vault-token`` as the Vault CLI reads it, and what ``doctor``'s vault check says of each
login method: the method, the mount and, on failure, the setting to fix.

The checks run in-process (``run_checks``) up to the vault check, which is all they need: the
later checks (secret, grant, token, api) are covered by tests/test_cli_doctor.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from processmaker_prefect.errors import ConfigurationError, VaultAuthError
from processmaker_prefect.health_checks import CheckResult, run_checks
from processmaker_prefect.settings import ProcessMakerSettings, VaultSettings, load_settings
from processmaker_prefect.vault import get_vault
from tests.fixtures.openbao import PM_POLICY, OpenBao
from tests.fixtures.vault_agent import VaultAgent
from tests.fixtures.vault_tls import CERT_ROLE, TlsOpenBao

pytestmark = pytest.mark.integration

PM = ProcessMakerSettings(url="http://127.0.0.1:9", secret="secret/processmaker/doctor")


@pytest.fixture(autouse=True)
def _clean_env(no_vault_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No VAULT_*, no Vault session, and a HOME of the test's own (no stray ~/.vault-token)."""
    monkeypatch.setenv("HOME", str(tmp_path))


def vault_check(settings: VaultSettings | None = None) -> CheckResult:
    """The result of doctor's vault check (the configuration check must pass first)."""
    results = {}
    for result in run_checks(PM, settings or load_settings(VaultSettings)):
        results[result.name] = result
        if result.name == "vault" or not result.ok:
            break
    assert results["configuration"].ok, results["configuration"].detail
    return results["vault"]


# --- ~/.vault-token ------------------------------------------------------------------------


def test_cli_token_file_is_read_when_no_method_is_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, openbao: OpenBao
) -> None:
    (tmp_path / ".vault-token").write_text(openbao.token_for(PM_POLICY) + "\n")
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    result = vault_check()
    assert result.ok, result.detail
    assert result.detail.endswith(
        f"logged in with token (from ~/.vault-token ({tmp_path / '.vault-token'}))"
    )


def test_vault_token_wins_over_the_cli_token_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, openbao: OpenBao
) -> None:
    (tmp_path / ".vault-token").write_text("s.stale-token-from-an-old-login")
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN", openbao.token_for(PM_POLICY))
    assert get_vault().logged_in_as() == "token (from VAULT_TOKEN)"


def test_cli_token_file_is_not_read_when_the_token_method_is_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, openbao: OpenBao
) -> None:
    (tmp_path / ".vault-token").write_text(openbao.token_for(PM_POLICY))
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_AUTH_METHOD", "token")
    with pytest.raises(
        ConfigurationError,
        match=r"^VAULT_TOKEN is required .*: set it or VAULT_TOKEN_FILE \(~/.vault-token is read "
        r"only when VAULT_AUTH_METHOD is unset\)$",
    ):
        get_vault()


def test_no_token_anywhere_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, openbao: OpenBao
) -> None:
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    result = vault_check()
    assert not result.ok
    assert result.detail == (
        "ConfigurationError: VAULT_TOKEN is required when VAULT_AUTH_METHOD=token: set it or "
        f"VAULT_TOKEN_FILE (or run `bao login` to write ~/.vault-token, absent at "
        f"{tmp_path / '.vault-token'})"
    )


def test_revoked_cli_token_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, openbao: OpenBao
) -> None:
    token = openbao.token_for(PM_POLICY)
    (tmp_path / ".vault-token").write_text(token)
    openbao.client.auth.token.revoke(token)
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_MAX_RETRIES", "0")
    with pytest.raises(VaultAuthError, match=r"check ~/.vault-token \(.*\) is valid"):
        get_vault().logged_in_as()


# --- doctor: method, mount, and the setting to fix ------------------------------------------


def test_doctor_names_the_cert_method_and_mount(tls_openbao: TlsOpenBao) -> None:
    settings = VaultSettings(
        addr=tls_openbao.addr,
        cacert=tls_openbao.cacert,
        auth_method="cert",
        client_cert=tls_openbao.trusted.cert_file,
        client_key=tls_openbao.trusted.key_file,
        cert_role=CERT_ROLE,
    )
    result = vault_check(settings)
    assert (result.ok, result.detail) == (
        True,
        f"reachable at {tls_openbao.addr}, logged in with cert (mount cert)",
    )


def test_doctor_names_the_setting_for_an_untrusted_certificate(tls_openbao: TlsOpenBao) -> None:
    settings = VaultSettings(
        addr=tls_openbao.addr,
        cacert=tls_openbao.cacert,
        auth_method="cert",
        client_cert=tls_openbao.untrusted.cert_file,
        client_key=tls_openbao.untrusted.key_file,
        max_retries=0,
    )
    result = vault_check(settings)
    assert not result.ok
    assert result.detail.startswith("VaultAuthError: Vault login with method cert at auth/cert")
    assert "check VAULT_CLIENT_CERT/VAULT_CLIENT_KEY" in result.detail


def test_doctor_names_the_setting_when_vault_cacert_is_missing(tls_openbao: TlsOpenBao) -> None:
    settings = VaultSettings(
        addr=tls_openbao.addr,
        auth_method="cert",
        client_cert=tls_openbao.trusted.cert_file,
        client_key=tls_openbao.trusted.key_file,
        max_retries=0,
    )
    result = vault_check(settings)
    assert not result.ok
    assert "set VAULT_CACERT to the CA that signs its certificate" in result.detail


def test_doctor_names_vault_auth_mount_when_the_mount_is_wrong(openbao: OpenBao) -> None:
    settings = VaultSettings(
        addr=openbao.addr,
        auth_method="approle",
        auth_mount="approle-nowhere",
        role_id="r",
        secret_id=SecretStr("s"),
        max_retries=0,
    )
    result = vault_check(settings)
    assert not result.ok
    assert "method approle at auth/approle-nowhere failed" in result.detail
    assert result.detail.endswith("set VAULT_AUTH_MOUNT if mounted elsewhere")


def test_doctor_names_the_agent_and_the_mount_it_logged_in_with(vault_agent: VaultAgent) -> None:
    result = vault_check(VaultSettings(addr=vault_agent.addr, auth_method="agent"))
    assert result.ok, result.detail
    assert result.detail.endswith(
        f"logged in with agent (its token from auth/approle, via {vault_agent.addr})"
    )
