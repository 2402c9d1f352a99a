"""TokenProvider: single flight, reuse until the leeway, one renewal per rejected token.

The grant here is a small counting implementation of our own Grant protocol: these tests are
about the provider's locking, not about any server (tests/test_auth.py covers the grants
against OpenBao and the sandbox).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from pydantic import SecretStr

from processmaker_prefect.auth import TokenProvider
from processmaker_prefect.auth.token_endpoint import Token


class CountingGrant:
    name = "password"

    def __init__(self, lifetime: float = 3600, delay: float = 0.05) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.delay = delay
        self._lock = threading.Lock()

    def obtain(self, rejected: SecretStr | None = None) -> Token:
        with self._lock:
            self.calls += 1
            number = self.calls
        time.sleep(self.delay)  # widen the race window
        return Token(SecretStr(f"token-{number}"), None, time.time() + self.lifetime)


def test_concurrent_callers_share_one_grant() -> None:
    grant = CountingGrant()
    provider = TokenProvider(grant, leeway=60)
    with ThreadPoolExecutor(16) as pool:
        tokens = list(pool.map(lambda _: provider.token().access_token, range(64)))
    assert grant.calls == 1
    assert {t.get_secret_value() for t in tokens} == {"token-1"}


def test_token_is_renewed_once_within_the_leeway() -> None:
    grant = CountingGrant(lifetime=3600, delay=0)
    provider = TokenProvider(grant, leeway=60)
    first = provider.token()
    assert provider.token() is first
    # an hour-long token with 30 s left: inside the leeway
    object.__setattr__(first, "obtained_at", time.time() - 3570)
    object.__setattr__(first, "expires_at", time.time() + 30)
    second = provider.token()
    assert second is not first
    assert provider.token() is second
    assert grant.calls == 2


def test_a_token_shorter_than_the_leeway_is_renewed_at_half_its_life() -> None:
    grant = CountingGrant(lifetime=120, delay=0)  # shorter than twice the 300 s leeway
    provider = TokenProvider(grant, leeway=300)
    first = provider.token()
    assert provider.token() is first  # not renewed on every call
    object.__setattr__(first, "obtained_at", time.time() - 61)  # past half its life
    object.__setattr__(first, "expires_at", time.time() + 59)
    assert provider.token() is not first
    assert grant.calls == 2


def test_many_threads_seeing_one_401_renew_once() -> None:
    grant = CountingGrant()
    provider = TokenProvider(grant, leeway=0)
    rejected = provider.token().access_token
    with ThreadPoolExecutor(8) as pool:
        renewed = list(pool.map(lambda _: provider.renew(rejected).access_token, range(32)))
    assert grant.calls == 2
    assert {t.get_secret_value() for t in renewed} == {"token-2"}


def test_renewing_an_already_replaced_token_does_not_grant_again() -> None:
    grant = CountingGrant()
    provider = TokenProvider(grant, leeway=0)
    old = provider.token().access_token
    provider.renew(old)
    provider.renew(old)
    assert grant.calls == 2
