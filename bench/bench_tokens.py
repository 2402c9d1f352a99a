"""Benchmark: API calls with a reused token vs a token grant per call.

Both sides make the same ``GET /api/1.0/users/1`` through ``ProcessMakerClient``, with the
real password grant (``PasswordGrant`` over an OpenBao dev server, ``TokenEndpoint`` against
the sandbox's ``POST /oauth/token``):

* baseline: a naive client that asks for a new token before every call;
* candidate: ``BearerAuth`` over one ``TokenProvider``, which reuses its token.

The sandbox's token throttle is raised for the measurement; afterwards a second sandbox
with ProcessMaker's real throttle (60 grants a minute per client IP) shows that the naive
client does not just run slower there: it fails.

Run alone with ``python -m bench.bench_tokens [--quick]``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from pydantic import SecretStr

from bench._common import Comparison, median_seconds, print_comparisons, sandbox_process
from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.auth import BearerAuth, TokenProvider
from processmaker_prefect.auth.grants import Grant, PasswordGrant
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import TokenEndpointUnavailableError
from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.openbao import DevVault
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault import VaultSecrets
from tests.fixtures.sandbox import SandboxControl

NAME = "tokens"
SECRET = "secret/processmaker/bench"
REAL_THROTTLE = 60  # ProcessMaker's /oauth/token: Laravel's throttle:60,1


@dataclass(frozen=True)
class Plan:
    calls: int
    repeat: int


def plan(quick: bool) -> Plan:
    return Plan(calls=40, repeat=1) if quick else Plan(calls=200, repeat=3)


class GrantPerCallAuth(requests.auth.AuthBase):
    """What a naive client does: a new token for every request."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.grant.obtain().access_token
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        return request


@contextmanager
def password_grant(vault: DevVault, url: str) -> Iterator[Grant]:
    """The real password grant for the sandbox at ``url``, its credentials read from Vault.

    ``retries=0``: a throttled grant fails at once instead of waiting out ``Retry-After``.
    """
    config = SandboxConfig()
    vault.put(
        SECRET.removeprefix("secret/"),
        {
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": config.password,
        },
    )
    # model_validate, not the constructor: no VAULT_* variable of the shell may interfere.
    settings = VaultSettings.model_validate(
        {"addr": vault.addr, "token": SecretStr(vault.token), "auth_method": "token"}
    )
    secrets = VaultSecrets(settings)
    endpoint = TokenEndpoint(url, retries=0)
    try:
        yield PasswordGrant(secrets, SECRET, endpoint)
    finally:
        endpoint.close()
        secrets.close()


def calls(client: ProcessMakerClient, count: int) -> None:
    for _ in range(count):
        client.get_user(1)


def throttled(vault: DevVault, calls_wanted: int) -> str:
    """Against ProcessMaker's real throttle: how far each client gets."""
    config = SandboxConfig(port=0, records=10)
    with sandbox_process(config) as url, password_grant(vault, url) as grant:
        with ProcessMakerClient(url, BearerAuth(TokenProvider(grant)), retries=0) as client:
            calls(client, calls_wanted)
        reused = SandboxControl(url).stats()["grants_total"]
        with ProcessMakerClient(url, GrantPerCallAuth(grant), retries=0) as client:
            for made in range(1, calls_wanted + 1):
                try:
                    client.get_user(1)
                except TokenEndpointUnavailableError:
                    return (
                        f"with the real throttle ({REAL_THROTTLE} grants/min) the reusing client "
                        f"made {calls_wanted} calls on {reused} grant(s); the naive one failed "
                        f"at call {made} with TokenEndpointUnavailableError (429)"
                    )
    return f"the naive client made {calls_wanted} calls without being throttled (unexpected)"


def run(quick: bool = False) -> list[Comparison]:
    sizes = plan(quick)
    n = sizes.calls
    # Raised throttle: otherwise the naive side fails after 60 grants (shown below).
    config = SandboxConfig(port=0, records=10, throttle_per_minute=1_000_000)
    with DevVault() as vault:
        with sandbox_process(config) as url, password_grant(vault, url) as grant:
            control = SandboxControl(url)
            provider = TokenProvider(grant)
            with (
                ProcessMakerClient(url, BearerAuth(provider), retries=0) as reusing,
                ProcessMakerClient(url, GrantPerCallAuth(grant), retries=0) as naive,
            ):
                calls(reusing, 5)  # warm-up: the first token, pooled connections
                calls(naive, 5)
                control.reset()
                naive_s = median_seconds(lambda: calls(naive, n), sizes.repeat)
                reused_s = median_seconds(lambda: calls(reusing, n), sizes.repeat)
                grants = control.stats()["grants_total"]
        outcome = throttled(vault, REAL_THROTTLE + 10)
    return [
        Comparison(
            NAME, "reuse_vs_grant_per_call", "a grant per call", n / naive_s,
            "TokenProvider reuse", n / reused_s, "calls/s",
            f"GET /api/1.0/users/1, {n} calls x {sizes.repeat}; {grants} grants in all "
            f"(naive {n * sizes.repeat}, reusing 0: its token came from the warm-up); "
            f"{outcome}",
        ),
    ]  # fmt: skip


def main() -> None:
    print_comparisons("tokens", run(quick="--quick" in sys.argv[1:]))


if __name__ == "__main__":
    main()
