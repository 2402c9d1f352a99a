"""Token grants end to end: credentials from a real OpenBao, tokens from the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from oauthlib.oauth2 import LegacyApplicationClient

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.auth import BearerAuth, TokenProvider, get_token_provider
from processmaker_prefect.auth.grants import RefreshTokenGrant
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import (
    ConfigurationError,
    ProcessMakerAuthError,
    TokenEndpointUnavailableError,
    TokenRejectedError,
    VaultKeyMissingError,
)
from processmaker_prefect.vault import get_vault
from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration


@pytest.fixture
def no_grant_interval(pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """No wait between two grants: the default 5 s spacing has its own test (in
    test_auth_token_failures); in a renewal test it only makes the renewal wait. After
    ``pm_stack``, which clears every PROCESSMAKER_* variable."""
    monkeypatch.setenv("PROCESSMAKER_TOKEN_MIN_INTERVAL", "0")


def client_for(provider: TokenProvider, stack: PmStack) -> ProcessMakerClient:
    return ProcessMakerClient(stack.sandbox.url, BearerAuth(provider), retries=1, backoff=0.01)


def initial_refresh_token(stack: PmStack) -> str:
    """A refresh token from a password grant made by hand, as `pm-prefect login` would get."""
    config = stack.sandbox.config
    oauth = LegacyApplicationClient(config.client_id)
    body = oauth.prepare_request_body(
        username=config.username,
        password=config.password,
        include_client_id=True,
        client_secret=config.client_secret,
    )
    response = requests.post(
        f"{stack.sandbox.url}/oauth/token",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["refresh_token"])


def fresh_pat(stack: PmStack) -> str:
    """A new personal access token of the admin, as a person would create one in the UI.

    (The sandbox's configured PAT may have been revoked by an earlier test's revoke-all.)
    """
    access = requests.post(
        f"{stack.sandbox.url}/oauth/token",
        data={
            "grant_type": "password",
            "client_id": stack.sandbox.config.client_id,
            "client_secret": stack.sandbox.config.client_secret,
            "username": stack.sandbox.config.username,
            "password": stack.sandbox.config.password,
        },
        timeout=10,
    ).json()["access_token"]
    created = requests.post(
        f"{stack.sandbox.url}/api/1.0/users/1/tokens",
        json={"name": "tests"},
        headers={"Authorization": f"Bearer {access}", "Accept": "application/json"},
        timeout=10,
    )
    created.raise_for_status()
    stack.control.reset()  # count only what the code under test does
    return str(created.json()["accessToken"])


def stored_refresh_token_works(stack: PmStack) -> bool:
    """Spend the refresh token Vault holds now (the end of a test): does ProcessMaker take it?"""
    stored = stack.vault.client.secrets.kv.v2.read_secret_version(
        path=stack.path.removeprefix("secret/"), mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    config = stack.sandbox.config
    response = requests.post(
        f"{stack.sandbox.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": stored["refresh_token"],
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
        timeout=10,
    )
    return response.status_code == 200


def refresh_credentials(stack: PmStack) -> dict[str, str]:
    config = stack.sandbox.config
    return {
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": initial_refresh_token(stack),
    }


def test_password_grant_token_calls_the_api_as_the_admin(pm_stack: PmStack) -> None:
    provider = get_token_provider()
    assert provider.grant_name == "password"
    with client_for(provider, pm_stack) as client:
        user = client.get_user(int(provider.token().subject() or 0))
    assert user["username"] == pm_stack.sandbox.config.username
    assert pm_stack.control.stats()["grants"] == {"password": 1}


def test_many_calls_from_many_threads_make_one_grant(pm_stack: PmStack) -> None:
    provider = get_token_provider()
    with client_for(provider, pm_stack) as client, ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(lambda p: client.get_page("/requests", {"page": p}), range(1, 61)))
    assert len(pages) == 60
    stats = pm_stack.control.stats()
    assert stats["grants_total"] == 1
    assert stats["requests"]["GET /api/1.0/requests"] == 60


def test_the_provider_is_shared_per_process_and_settings(pm_stack: PmStack) -> None:
    assert get_token_provider() is get_token_provider()


def test_wrong_password_is_one_attempt_and_one_clear_line(pm_stack: PmStack) -> None:
    pm_stack.put(**{**pm_stack.password_credentials(), "password": "not-the-password"})
    with pytest.raises(TokenRejectedError) as caught:
        get_token_provider().token()
    message = str(caught.value)
    assert caught.value.error == "invalid_grant"
    assert pm_stack.path in message
    assert "\n" not in message
    assert "not-the-password" not in message
    # The throttle counts every POST /oauth/token: ours made exactly one.
    probe = requests.post(f"{pm_stack.sandbox.url}/oauth/token", data={}, timeout=10)
    limit = int(probe.headers["X-RateLimit-Limit"])
    assert int(probe.headers["X-RateLimit-Remaining"]) == limit - 2


def test_wrong_client_secret_is_invalid_client(pm_stack: PmStack) -> None:
    pm_stack.put(**{**pm_stack.password_credentials(), "client_secret": "wrong-secret-value"})
    with pytest.raises(TokenRejectedError, match=r"invalid_client.*check client_id and client_s"):
        get_token_provider().token()
    assert pm_stack.control.stats()["grants_total"] == 0


def test_missing_key_names_key_and_path(pm_stack: PmStack) -> None:
    creds = pm_stack.password_credentials()
    del creds["password"]
    pm_stack.put(**creds)
    with pytest.raises(VaultKeyMissingError, match=rf"{pm_stack.path} has no 'password'"):
        get_token_provider()


def test_plain_http_to_a_remote_instance_is_refused_before_any_call(
    pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_URL", "http://pm.example.com")
    with pytest.raises(ConfigurationError, match="PROCESSMAKER_ALLOW_INSECURE_HTTP"):
        get_token_provider()


def test_pat_is_used_as_is_without_any_grant(pm_stack: PmStack) -> None:
    pm_stack.put(personal_access_token=fresh_pat(pm_stack))
    provider = get_token_provider()
    assert provider.grant_name == "pat"
    with client_for(provider, pm_stack) as client:
        client.get_page("/users")
    assert pm_stack.control.stats()["grants_total"] == 0


@pytest.mark.usefixtures("no_grant_interval")
def test_revoked_token_is_renewed_once_and_the_call_replayed(pm_stack: PmStack) -> None:
    provider = get_token_provider()
    with client_for(provider, pm_stack) as client:
        client.get_page("/groups")
        pm_stack.control.revoke_all()
        body = client.get_page("/groups")
    assert isinstance(body["data"], list)
    stats = pm_stack.control.stats()
    assert stats["grants"] == {"password": 2}
    assert stats["requests"]["GET /api/1.0/groups"] == 3  # ok, 401, replay


@pytest.mark.usefixtures("no_grant_interval")
def test_a_second_401_is_an_error_naming_the_fix(pm_stack: PmStack) -> None:
    pm_stack.put(personal_access_token=fresh_pat(pm_stack))
    provider = get_token_provider()
    with client_for(provider, pm_stack) as client:
        client.get_page("/groups")
        pm_stack.control.revoke_all()  # the PAT too: re-reading Vault finds the same one
        with pytest.raises(ProcessMakerAuthError, match="create a new one"):
            client.get_page("/groups")


@pytest.mark.usefixtures("no_grant_interval")
def test_expired_token_is_renewed_before_use(pm_stack: PmStack) -> None:
    pm_stack.control.set_token_ttl(2)
    provider = get_token_provider()
    first = provider.token()
    assert provider.token() is first  # a 2 s token is reused for its first half...
    time.sleep(1.2)
    second = provider.token()  # ...and renewed after it
    assert second.access_token != first.access_token
    assert pm_stack.control.stats()["grants"] == {"password": 2}


def test_refresh_grant_rotates_and_writes_the_new_token_to_vault(pm_stack: PmStack) -> None:
    original = refresh_credentials(pm_stack)
    version = pm_stack.put(**original)
    provider = get_token_provider()
    assert provider.grant_name == "refresh_token"
    with client_for(provider, pm_stack) as client:
        client.get_page("/users")
    stored = get_vault().read(pm_stack.path, fresh=True)
    assert stored.version == (version or 0) + 2  # the claim, then the new tokens
    assert "access_token_renewing_until" not in stored.data
    assert stored.get("access_token") == provider.token().access_token
    assert stored.get("refresh_token").get_secret_value() != original["refresh_token"]
    assert stored.get("client_secret").get_secret_value() == original["client_secret"]
    # The spent refresh token is dead on the server: rotation really happened.
    spent = requests.post(
        f"{pm_stack.sandbox.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": original["refresh_token"],
            "client_id": original["client_id"],
            "client_secret": original["client_secret"],
        },
        timeout=10,
    )
    assert spent.status_code in (400, 401)


def test_concurrent_refreshers_never_lose_the_newest_refresh_token(pm_stack: PmStack) -> None:
    """Six independent providers (as six processes would) refresh the same stored token."""
    pm_stack.put(**refresh_credentials(pm_stack))
    vault = get_vault()
    url = pm_stack.sandbox.url

    def run_one(_: int) -> str:
        grant = RefreshTokenGrant(vault, pm_stack.path, TokenEndpoint(url, retries=0))
        provider = TokenProvider(grant)
        with client_for(provider, pm_stack) as client:
            client.get_page("/users")
        return "ok"

    pm_stack.control.reset()
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(run_one, range(6))) == ["ok"] * 6
    # One of them refreshed, the others used its token; Vault holds a working refresh token.
    assert pm_stack.control.stats()["grants"] == {"refresh_token": 1}
    assert stored_refresh_token_works(pm_stack)


def test_spent_refresh_token_with_nothing_newer_says_run_login(pm_stack: PmStack) -> None:
    creds = refresh_credentials(pm_stack)
    pm_stack.put(**creds)
    requests.post(
        f"{pm_stack.sandbox.url}/oauth/token",
        data={"grant_type": "refresh_token", **creds},
        timeout=10,
    ).raise_for_status()  # someone else spends it and loses the new one
    grant = RefreshTokenGrant(get_vault(), pm_stack.path, TokenEndpoint(pm_stack.sandbox.url))
    with pytest.raises(TokenRejectedError, match="pm-prefect login"):
        grant.obtain()


REFRESH_IN_A_PROCESS = """
from processmaker_prefect.auth import BearerAuth, get_token_provider
from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.settings import ProcessMakerSettings

provider = get_token_provider()
with ProcessMakerClient.from_settings(ProcessMakerSettings(), BearerAuth(provider)) as client:
    client.get_page("/users")
print("ok", provider.grant_name)
"""


def test_concurrent_refresh_from_several_processes(pm_stack: PmStack) -> None:
    """Three processes start at once with the same stored refresh token: all succeed, and
    Vault ends with a working refresh token."""
    pm_stack.put(**refresh_credentials(pm_stack))
    env = {**os.environ, **pm_stack.env, "PROCESSMAKER_AUTH": "refresh_token"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", REFRESH_IN_A_PROCESS],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert out.strip() == "ok refresh_token"
    assert stored_refresh_token_works(pm_stack)


def test_a_failing_token_endpoint_is_retried_with_backoff(pm_stack: PmStack) -> None:
    pm_stack.control.set_faults(token_fail_next=2, fail_status=503)
    token = get_token_provider().token()
    assert token.subject() == "1"
    assert pm_stack.control.stats()["grants"] == {"password": 1}


def test_a_token_endpoint_that_keeps_failing_is_one_clear_line(
    pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_RETRIES", "1")
    pm_stack.control.set_faults(token_fail_next=5, fail_status=503)
    with pytest.raises(TokenEndpointUnavailableError, match=r"-> 503 .*try again later"):
        get_token_provider().token()


def test_clients_opened_in_one_process_share_one_pooled_session(pm_stack: PmStack) -> None:
    from processmaker_prefect.prefect_layer.connection import open_client

    with open_client() as first:
        first.get_page("/groups")
    with open_client() as second:
        # The first client's close left the shared session, and its pool, open.
        assert second._session is first._session
        second.get_page("/groups")
    assert pm_stack.control.stats()["grants_total"] == 1
