"""What a failing or skewed grant costs: one attempt for all waiting threads, a fix in Vault
picked up at once, and a local clock off the server's never turning calls into grants.

Real OpenBao and the sandbox. Issue 10, items 5, 6 and 7.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.auth import BearerAuth, TokenProvider, get_token_provider
from processmaker_prefect.auth.grants import PasswordGrant
from processmaker_prefect.auth.token import Token, jwt_claims
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import TokenRejectedError, is_retriable
from processmaker_prefect.vault import get_vault
from tests.fixtures.stack import PmStack

pytestmark = pytest.mark.integration


class CountingEndpoint(TokenEndpoint):
    """The real token endpoint, counting POSTs (the sandbox counts only successful grants)
    and holding each one a little, so that the other threads are surely waiting for it."""

    def __init__(self, url: str, hold: float = 0.3, **kwargs: object) -> None:
        super().__init__(url, retries=0, **kwargs)  # type: ignore[arg-type]
        self.posts = 0
        self.hold = hold
        self._count = threading.Lock()

    def request(self, *args: object, **kwargs: object) -> Token:
        with self._count:
            self.posts += 1
        time.sleep(self.hold)
        return super().request(*args, **kwargs)  # type: ignore[arg-type]


def test_threads_waiting_on_a_failing_grant_share_its_error(pm_stack: PmStack) -> None:
    pm_stack.put(**{**pm_stack.password_credentials(), "password": "wrong"})
    endpoint = CountingEndpoint(pm_stack.sandbox.url)
    provider = TokenProvider(PasswordGrant(get_vault(), pm_stack.path, endpoint))
    start = threading.Barrier(4)

    def ask(_: int) -> Exception | None:
        start.wait()
        try:
            provider.token()
        except TokenRejectedError as exc:
            return exc
        return None

    with ThreadPoolExecutor(4) as pool:
        errors = list(pool.map(ask, range(4)))
    assert endpoint.posts == 1
    assert all(isinstance(e, TokenRejectedError) and not is_retriable(e) for e in errors)
    assert len({str(e) for e in errors}) == 1
    assert "invalid_grant" in str(errors[0])


def test_a_secret_fixed_in_vault_is_used_by_the_running_process(
    pm_stack: PmStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCESSMAKER_TOKEN_MIN_INTERVAL", "0")
    good = pm_stack.password_credentials()
    pm_stack.put(**{**good, "client_secret": "wrong"})
    provider = get_token_provider()  # its Vault reads are cached for 300 s
    with pytest.raises(TokenRejectedError, match="invalid_client"):
        provider.token()
    pm_stack.put(**good)  # an operator fixes the secret
    assert provider.token().subject() == "1"
    assert pm_stack.control.stats()["grants"] == {"password": 1}


def test_a_refused_grant_is_retried_at_once_only_if_vault_changed(pm_stack: PmStack) -> None:
    """The secret is fixed while the first attempt is in flight: one more attempt, which works;
    unchanged, a refused grant is not repeated."""
    good = pm_stack.password_credentials()
    pm_stack.put(**{**good, "password": "wrong"})

    class FixingEndpoint(CountingEndpoint):
        def request(self, *args: object, **kwargs: object) -> Token:
            if self.posts == 0:
                pm_stack.put(**good)
            return super().request(*args, **kwargs)

    endpoint = FixingEndpoint(pm_stack.sandbox.url, hold=0)
    assert TokenProvider(PasswordGrant(get_vault(), pm_stack.path, endpoint)).token()
    assert endpoint.posts == 2


def test_a_clock_ahead_of_the_server_does_not_make_every_call_a_grant(pm_stack: PmStack) -> None:
    pm_stack.control.set_token_ttls(access=60)

    def ahead() -> float:  # this host's clock, two minutes ahead of ProcessMaker's
        return time.time() + 120

    endpoint = TokenEndpoint(pm_stack.sandbox.url, clock=ahead)
    provider = TokenProvider(PasswordGrant(get_vault(), pm_stack.path, endpoint), clock=ahead)
    with ProcessMakerClient(pm_stack.sandbox.url, BearerAuth(provider)) as client:
        for _ in range(10):
            client.get_page("/users", {"per_page": 1})
    assert pm_stack.control.stats()["grants"] == {"password": 1}


def test_grants_are_spaced_by_the_floor(pm_stack: PmStack) -> None:
    """A token refused right after it was issued does not start a storm of grants."""
    waits: list[float] = []
    endpoint = CountingEndpoint(pm_stack.sandbox.url, hold=0)
    grant = PasswordGrant(get_vault(), pm_stack.path, endpoint)
    provider = TokenProvider(grant, min_interval=30, sleep=waits.append)
    for _ in range(3):
        provider.renew(provider.token().access_token)
    assert endpoint.posts == 4
    assert len(waits) == 3
    assert all(0 < wait <= 30 for wait in waits)  # each renewal waited out the floor


def test_a_pats_expiry_is_its_own_exp_not_counted_from_receipt(pm_stack: PmStack) -> None:
    """A stored PAT was issued when someone created it, not when this process read it."""
    pat = pm_stack.control.create_pat(expires_in=3 * 86400)["accessToken"]
    pm_stack.put(personal_access_token=pat)
    token = get_token_provider().token()
    assert token.expires_at == jwt_claims(pat)["exp"]
