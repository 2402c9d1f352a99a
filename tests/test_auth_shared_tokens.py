"""Tokens shared across processes through Vault, and a rotated refresh token never lost.

Real processes (subprocess), a real OpenBao and the sandbox, whose stats count the grants
it granted. Issue 10, items 1 and 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.auth import (
    BearerAuth,
    TokenProvider,
    get_token_provider,
    reset_token_providers,
)
from processmaker_prefect.auth.grants import RefreshTokenGrant, make_grant
from processmaker_prefect.auth.shared import SharedToken
from processmaker_prefect.auth.token import Token
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import RefreshTokenNotSavedError, VaultAuthError, is_retriable
from processmaker_prefect.sandbox.openbao import DevVault
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecrets, get_vault
from tests.fixtures.openbao import OpenBao
from tests.fixtures.stack import PmStack
from tests.test_auth_provider import refresh_credentials, stored_refresh_token_works

pytestmark = pytest.mark.integration

# Each process waits at a gate so that all eight start their token work together.
CALLS_IN_A_PROCESS = """
import os, sys, time
from pathlib import Path
from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.auth import BearerAuth, get_token_provider
from processmaker_prefect.settings import ProcessMakerSettings

gate = Path(sys.argv[1])
while not gate.exists():
    time.sleep(0.02)
provider = get_token_provider()
with ProcessMakerClient.from_settings(ProcessMakerSettings(), BearerAuth(provider)) as client:
    for _ in range(int(sys.argv[2])):
        client.get_page("/users", {"per_page": 1})
print("ok", provider.grant_name)
"""


def run_processes(stack: PmStack, count: int, calls: int, gate: Path, **env: str) -> None:
    """``count`` processes making ``calls`` API calls each, started together; all must pass."""
    full_env = {**os.environ, **stack.env, **env}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CALLS_IN_A_PROCESS, str(gate), str(calls)],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    time.sleep(0.5)
    gate.touch()
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-2000:]
        assert out.startswith("ok ")


@pytest.mark.slow
def test_eight_processes_on_one_refresh_token_make_one_grant(
    pm_stack: PmStack, tmp_path: Path
) -> None:
    pm_stack.put(**refresh_credentials(pm_stack))
    pm_stack.control.reset()  # count only what the processes do
    run_processes(pm_stack, 8, 10, tmp_path / "go", PROCESSMAKER_AUTH="refresh_token")
    assert pm_stack.control.stats()["grants"] == {"refresh_token": 1}
    assert stored_refresh_token_works(pm_stack)


def test_a_revoked_shared_token_is_renewed_once_for_every_process(pm_stack: PmStack) -> None:
    """Two providers (as two processes would) share a token; it gets revoked: one refresh."""
    pm_stack.put(**refresh_credentials(pm_stack))
    vault, url = get_vault(), pm_stack.sandbox.url
    providers = [TokenProvider(RefreshTokenGrant(vault, pm_stack.path, TokenEndpoint(url)))]
    providers.append(TokenProvider(RefreshTokenGrant(vault, pm_stack.path, TokenEndpoint(url))))
    pm_stack.control.reset()
    first = providers[0].token()
    assert providers[1].token().access_token == first.access_token  # read from Vault
    renewed = providers[0].renew(first.access_token)  # e.g. an admin revoked it: 401
    assert providers[1].renew(first.access_token).access_token == renewed.access_token
    assert pm_stack.control.stats()["grants"] == {"refresh_token": 2}


def test_password_runs_share_one_token_when_allowed(
    pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three runs a day, one after the other: one grant, not three."""
    monkeypatch.setenv("PROCESSMAKER_SHARE_TOKEN", "1")
    tokens = []
    for _ in range(3):
        tokens.append(get_token_provider().token())
        reset_token_providers()  # the next run is a new process
    assert len({t.access_token for t in tokens}) == 1
    assert pm_stack.control.stats()["grants"] == {"password": 1}
    # What processmaker.token.obtained reports as its source: the first granted, not the rest.
    assert [t.from_vault for t in tokens] == [False, True, True]


def test_password_sharing_falls_back_when_the_policy_is_read_only(
    pm_stack: PmStack, read_only_token: str
) -> None:
    vault = VaultSecrets(VaultSettings(addr=pm_stack.vault.addr, token=read_only_token))
    endpoint = TokenEndpoint(pm_stack.sandbox.url)
    grant = make_grant("password", vault, pm_stack.path, endpoint, share=True)
    assert TokenProvider(grant).token().subject() == "1"
    assert "access_token" not in vault.read(pm_stack.path, fresh=True).data


@pytest.fixture
def read_only_token(openbao: OpenBao) -> str:
    """A Vault token whose policy may read the test secrets but not write them."""
    openbao.client.sys.create_or_update_policy(
        "pm-read-only", 'path "secret/data/*" { capabilities = ["read"] }'
    )
    return openbao.token_for("pm-read-only")


def test_a_read_only_policy_fails_before_the_refresh_token_is_spent(
    pm_stack: PmStack, read_only_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm_stack.put(**refresh_credentials(pm_stack))
    monkeypatch.setenv("VAULT_TOKEN", read_only_token)
    pm_stack.control.reset()
    with pytest.raises(VaultAuthError, match=r"grants create and update .*nothing was spent$"):
        get_token_provider().token()
    assert pm_stack.control.stats()["grants"] == {}
    assert stored_refresh_token_works(pm_stack)  # the next run (with update) can go on


class SealingEndpoint(TokenEndpoint):
    """Seals Vault the moment ProcessMaker has answered a grant.

    Not a fake: the POST goes to the sandbox and the seal to OpenBao. It only fixes the
    timing, which no server can be asked for: the rotation done, its write-back not yet.
    """

    def __init__(self, url: str, server: DevVault) -> None:
        super().__init__(url, retries=0)
        self.server = server

    def request(self, *args: object, **kwargs: object) -> Token:
        token = super().request(*args, **kwargs)  # type: ignore[arg-type]
        OpenBao(self.server).client.sys.seal()
        return token


def unseal_key(server: DevVault, timeout: float = 30) -> str:
    """The dev server's unseal key: its banner comes a moment after it first answers (about
    0.1 s; more on a busy machine), so wait for it."""
    deadline = time.monotonic() + timeout
    while (found := re.search(r"Unseal Key: (\S+)", server.output())) is None:
        assert time.monotonic() < deadline, "no unseal key in the dev server's output"
        time.sleep(0.05)
    return found.group(1)


def test_a_rotation_vault_cannot_take_fails_the_run_once_and_keeps_it_working(
    pm_stack: PmStack,
) -> None:
    with DevVault() as server:  # its own server: sealing is permanent for a dev server
        path = "secret/pm"
        OpenBao(server).put(path, refresh_credentials(pm_stack))
        vault = VaultSecrets(
            VaultSettings(addr=server.addr, token=server.token), attempts=2, backoff=0
        )
        shared = SharedToken(vault, path, leeway=300, rotates=True, write_attempts=2)
        shared.write_backoff = 0.01
        endpoint = SealingEndpoint(pm_stack.sandbox.url, server)
        provider = TokenProvider(RefreshTokenGrant(vault, path, endpoint, shared=shared))
        with pytest.raises(RefreshTokenNotSavedError, match=r"spent; run `pm-prefect login`") as e:
            provider.token()
        assert not is_retriable(e.value)  # a Prefect retry cannot bring the token back
        # The run itself goes on with the new token.
        with ProcessMakerClient(pm_stack.sandbox.url, BearerAuth(provider)) as client:
            assert client.get_page("/users")["data"]
        # Vault is back before the process ends: what atexit runs stores the rotation.
        bao = OpenBao(server)
        bao.client.sys.submit_unseal_key(unseal_key(server))
        shared._store_at_exit()
        stored = bao.client.secrets.kv.v2.read_secret_version(
            path="pm", mount_point="secret", raise_on_deleted_version=True
        )["data"]["data"]
        rotated = provider.token().refresh_token
        assert rotated is not None
        assert stored["refresh_token"] == rotated.get_secret_value()
        assert "access_token_renewing_until" not in stored


def test_a_claim_left_by_a_dead_process_expires(pm_stack: PmStack) -> None:
    """A process claimed the renewal and died: after claim_ttl the next one takes over."""
    pm_stack.put(
        **refresh_credentials(pm_stack), access_token_renewing_until=repr(time.time() + 60)
    )
    pm_stack.control.reset()

    def later() -> float:  # a minute on: the claim has run out (the clock is injected)
        return time.time() + 61

    vault, url = get_vault(), pm_stack.sandbox.url
    shared = SharedToken(vault, pm_stack.path, leeway=300, rotates=True, clock=later)
    endpoint = TokenEndpoint(url, clock=later)
    grant = RefreshTokenGrant(vault, pm_stack.path, endpoint, shared=shared)
    assert TokenProvider(grant, clock=later).token().subject() == "1"
    assert pm_stack.control.stats()["grants"] == {"refresh_token": 1}
    assert "access_token_renewing_until" not in vault.read(pm_stack.path, fresh=True).data
