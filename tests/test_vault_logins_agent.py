"""A Vault Agent beside the worker: its API proxy (``VAULT_AUTH_METHOD=agent``) and its token
sink read as ``VAULT_TOKEN_FILE``, against a real ``bao agent`` (tests/fixtures/vault_agent.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from processmaker_prefect.errors import ConfigurationError, VaultAuthError
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecrets, get_vault
from tests.fixtures.openbao import OpenBao
from tests.fixtures.vault_agent import VaultAgent

pytestmark = pytest.mark.integration

DATA = {"client_id": "pm-client", "client_secret": "cs-agent-3c2b1a"}


@pytest.fixture(autouse=True)
def _clean_env(no_vault_env: None) -> None:
    """No VAULT_* and no Vault session around each test (see tests/fixtures/openbao.py)."""


@pytest.fixture(scope="module")
def seeded(openbao: OpenBao) -> str:
    path = f"secret/agent-tests/{uuid.uuid4().hex[:8]}"
    openbao.put(path, DATA)
    return path


def client(addr: str, **kwargs: Any) -> VaultSecrets:
    return VaultSecrets(VaultSettings(addr=addr, **kwargs), attempts=3, backoff=0.2)


# --- the agent's API proxy ------------------------------------------------------------------


def test_worker_reads_through_the_agent_with_no_token_of_its_own(
    monkeypatch: pytest.MonkeyPatch, vault_agent: VaultAgent, seeded: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", vault_agent.addr)
    monkeypatch.setenv("VAULT_AUTH_METHOD", "agent")
    vault = get_vault()
    assert vault.logged_in_as() == f"agent (its token from auth/approle, via {vault_agent.addr})"
    assert vault.read(seeded).get("client_id").get_secret_value() == "pm-client"
    assert vault._session.client.token == ""  # the agent's token never reaches this process


def test_writes_go_through_the_agent_too(vault_agent: VaultAgent, secret_path: str) -> None:
    vault = client(vault_agent.addr, auth_method="agent")
    assert vault.write(secret_path, {"client_id": "written"}, cas=0) == 1
    assert vault.read(secret_path, fresh=True).get("client_id").get_secret_value() == "written"


def test_agent_that_replaced_its_token_is_used_without_a_restart_here(
    openbao: OpenBao, vault_agent: VaultAgent, seeded: str
) -> None:
    vault = client(vault_agent.addr, auth_method="agent")
    vault.read(seeded)
    openbao.client.auth.token.revoke(vault_agent.token())
    vault_agent.restart()  # logs in anew: a new token, the old one revoked
    assert vault.read(seeded, fresh=True).keys() == sorted(DATA)


def test_agent_method_pointed_at_vault_itself_fails_in_one_line(
    openbao: OpenBao, seeded: str
) -> None:
    vault = client(openbao.addr, auth_method="agent")
    with pytest.raises(
        VaultAuthError,
        match=rf"^Vault login with method agent at {openbao.addr} failed \(.+\): check "
        r"VAULT_ADDR is the Vault Agent's listener, .*use_auto_auth_token = true",
    ) as info:
        vault.read(seeded)
    assert "\n" not in str(info.value)


def test_agent_method_refuses_a_token_of_our_own(vault_agent: VaultAgent) -> None:
    with pytest.raises(
        ConfigurationError, match=r"^VAULT_TOKEN and VAULT_TOKEN_FILE must be unset"
    ):
        client(vault_agent.addr, auth_method="agent", token=SecretStr("s.mine"))


# --- the agent's sink as VAULT_TOKEN_FILE ----------------------------------------------------


def test_sink_file_as_token_file(
    monkeypatch: pytest.MonkeyPatch, openbao: OpenBao, vault_agent: VaultAgent, seeded: str
) -> None:
    monkeypatch.setenv("VAULT_ADDR", openbao.addr)
    monkeypatch.setenv("VAULT_TOKEN_FILE", str(vault_agent.sink))
    vault = get_vault()
    assert vault.logged_in_as() == "token (from VAULT_TOKEN_FILE)"
    assert vault.read(seeded).keys() == sorted(DATA)
    assert vault._session.client.token == vault_agent.token()


def test_token_file_is_read_again_when_the_agent_rotated_it(
    openbao: OpenBao, vault_agent: VaultAgent, seeded: str
) -> None:
    vault = client(openbao.addr, token_file=vault_agent.sink)
    vault.read(seeded)
    first = vault_agent.token()
    openbao.client.auth.token.revoke(first)
    second = vault_agent.restart()
    # The held token now gets a 403; the file is read again and the read retried once.
    assert vault.read(seeded, fresh=True).keys() == sorted(DATA)
    assert vault._session.client.token == second != first


def test_revoked_token_in_the_file_names_the_file(
    openbao: OpenBao, vault_agent: VaultAgent, seeded: str
) -> None:
    vault = client(openbao.addr, token_file=vault_agent.sink)
    openbao.client.auth.token.revoke(vault_agent.token())  # and no agent to replace it
    vault_agent.stop()
    with pytest.raises(
        VaultAuthError,
        match=r"^Vault login with method token at auth/token failed \(permission denied\): "
        r"check VAULT_TOKEN_FILE is valid",
    ):
        vault.read(seeded)


def test_missing_token_file_names_the_variable(tmp_path: Path, openbao: OpenBao) -> None:
    vault = client(openbao.addr, token_file=tmp_path / "no-sink")
    with pytest.raises(ConfigurationError, match=r"^VAULT_TOKEN_FILE=.*no-sink cannot be read"):
        vault.logged_in_as()
