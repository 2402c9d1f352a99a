"""ProcessMaker bearer tokens: one provider per instance and credentials per process.

The provider turns what Vault holds into a valid bearer token and keeps it valid: the first
caller obtains it, concurrent callers wait for that grant and share its outcome, token or
error (single flight), and it is reused until it comes within a leeway of expiry. Across
processes the grant shares the token through Vault (:mod:`processmaker_prefect.auth.shared`).
``BearerAuth`` plugs it into requests and, on a 401, renews once and replays the request once.

Tokens never leave this module's objects: tasks receive a ``requests`` auth object built
inside the task, never a token value, and no task returns one.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import requests
from pydantic import SecretStr

from processmaker_prefect.api.breaker import breaker_for
from processmaker_prefect.api.tls import check_transport, verify_option
from processmaker_prefect.auth.credentials import ProcessMakerCredentials, choose_grant
from processmaker_prefect.auth.grants import Grant, make_grant
from processmaker_prefect.auth.observed import ObservedGrant, observe_api_refusal
from processmaker_prefect.auth.token import Clock, Token
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import ProcessMakerPrefectError, RefreshTokenNotSavedError
from processmaker_prefect.process_cache import ProcessCache
from processmaker_prefect.settings import (
    GrantName,
    ProcessMakerSettings,
    VaultSettings,
    load_settings,
)
from processmaker_prefect.vault import get_vault

__all__ = [
    "BearerAuth",
    "TokenProvider",
    "get_token_provider",
    "reset_token_providers",
]


class TokenProvider:
    """Holds one instance's current token; obtains, reuses and renews it.

    One grant is in flight at a time, and its outcome is shared: threads that waited for it
    get its token or, if it failed, the same error, without a second attempt. Grants are
    also spaced by at least ``min_interval`` seconds, so a token refused right after it was
    issued cannot turn into a storm of grants.

    Args:
        grant: How to obtain a token.
        leeway: Renew a token this many seconds before it expires.
        min_interval: Seconds between two grants of this provider.
        clock: Wall-clock seconds, for expiry; tests inject a skewed one.
        sleep: Waits out the floor between grants; tests inject a recorder.
    """

    def __init__(
        self,
        grant: Grant,
        *,
        leeway: float = 300.0,
        min_interval: float = 0.0,
        clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.grant = grant
        self._sleep = sleep
        self._leeway = leeway
        self._min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._flights = 0  # grants finished, successful or not
        self._failure: ProcessMakerPrefectError | None = None  # how the last one ended
        self._last_grant: float | None = None  # time.monotonic() of the last grant

    @property
    def grant_name(self) -> GrantName:
        return self.grant.name

    def _usable(self, token: Token | None, rejected: SecretStr | None) -> Token | None:
        if token is None or token.due_for_renewal(self._leeway, self._clock()):
            return None
        return None if rejected is not None and token.access_token == rejected else token

    def token(self) -> Token:
        """The current token, obtained or renewed first if needed (single flight)."""
        current = self._usable(self._token, None)
        return current if current is not None else self._obtain(None)

    def renew(self, rejected: SecretStr) -> Token:
        """A token other than ``rejected``, which got a 401.

        Many threads may see the same 401 at once; only the first renews, the others get
        the token it obtained (or the error it got).
        """
        observe_api_refusal(self.grant, rejected)
        return self._obtain(rejected)

    def _obtain(self, rejected: SecretStr | None) -> Token:
        seen = self._flights
        with self._lock:
            if self._flights != seen and self._failure is not None:
                # The grant we waited for failed: the same error, not a second attempt.
                raise copy.copy(self._failure).with_traceback(None)
            current = self._usable(self._token, rejected)
            if current is not None:
                return current
            self._space_out()
            try:
                token = self.grant.obtain(rejected)
            except RefreshTokenNotSavedError as exc:
                self._finish(exc)
                self._keep_unsaved()
                raise
            except ProcessMakerPrefectError as exc:
                self._finish(exc)
                raise
            self._token = token
            self._finish(None)
            return token

    def _finish(self, failure: ProcessMakerPrefectError | None) -> None:
        self._failure = failure
        self._flights += 1
        self._last_grant = time.monotonic()

    def _space_out(self) -> None:
        if self._last_grant is not None:
            wait = self._last_grant + self._min_interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)

    def _keep_unsaved(self) -> None:
        """The run goes on with the rotated token Vault did not take (see SharedToken)."""
        shared = getattr(self.grant, "shared", None)
        unsaved = getattr(shared, "unsaved", None)
        if unsaved is not None:
            self._token = unsaved[1]

    def secrets(self) -> list[SecretStr]:
        """Values to scrub from any text this provider's users produce."""
        token = self._token
        if token is None:
            return []
        return [s for s in (token.access_token, token.refresh_token) if s is not None]


class BearerAuth(requests.auth.AuthBase):
    """requests auth: ``Authorization: Bearer``; on 401 one renewal and one replay."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.provider.token().access_token
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        request.register_hook("response", self._replay_on_401)
        setattr(request, "_pm_token", token)  # noqa: B010 - which token this request carried
        return request

    def _replay_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, "_pm_replayed", False):
            return response
        response.content  # noqa: B018 - drain so the connection can be reused
        response.close()
        token = self.provider.renew(getattr(request, "_pm_token"))  # noqa: B009
        replay = request.copy()
        replay.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        setattr(replay, "_pm_replayed", True)  # noqa: B010
        second = response.connection.send(replay, **kwargs)
        second.history.append(response)
        second.request = replay
        return second


def _open_provider(key: tuple[ProcessMakerSettings, VaultSettings]) -> TokenProvider:
    """Read the Vault secret once to decide the grant (PROCESSMAKER_AUTH, or inferred from the
    keys present) and build the provider that every later call in this process reuses."""
    settings, vault_settings = key
    check_transport(
        settings.url, allow_insecure_http=settings.allow_insecure_http, name_of=settings.name_of
    )
    vault = get_vault(vault_settings)
    secret = vault.read(settings.secret)
    credentials = ProcessMakerCredentials.from_mapping(secret.data)
    grant_name = choose_grant(settings.auth, credentials, settings.name_of("auth"))
    credentials.require(grant_name, settings.secret)
    endpoint = TokenEndpoint(
        settings.url,
        verify=verify_option(settings),
        timeout=settings.timeout,
        retries=settings.retries,
        backoff=settings.backoff,
        # The API client's breaker for this instance: a down ProcessMaker is one outage.
        breaker=breaker_for(settings.url, settings.breaker_threshold, settings.breaker_cooldown),
        name_of=settings.name_of,
    )
    grant = make_grant(
        grant_name,
        vault,
        settings.secret,
        endpoint,
        share=settings.share_token,
        leeway=settings.token_leeway,
    )
    grant = ObservedGrant(
        grant, settings.url, settings.secret, vault_settings.addr, block=settings.block
    )
    return TokenProvider(
        grant, leeway=settings.token_leeway, min_interval=settings.token_min_interval
    )


# What a provider is built from: the instance, its secret, how to reach its token endpoint and
# how to hold the token. Listing options (page_size, max_concurrency, sync_lag, ...) are not
# in it, so connections that differ only there share one grant.
_PROVIDER_FIELDS = (
    "url", "secret", "auth", "allow_insecure_http", "ca_bundle", "verify_tls", "timeout",
    "retries", "backoff", "share_token", "token_leeway", "token_min_interval",
)  # fmt: skip


def _provider_identity(key: tuple[ProcessMakerSettings, VaultSettings]) -> Hashable:
    settings, vault_settings = key
    # The Vault settings are all identity (where Vault is and how to log in), hashed by value.
    return tuple(getattr(settings, name) for name in _PROVIDER_FIELDS), vault_settings


_PROVIDERS: ProcessCache[tuple[ProcessMakerSettings, VaultSettings], TokenProvider] = ProcessCache(
    _open_provider, identity=_provider_identity
)


def get_token_provider(
    settings: ProcessMakerSettings | None = None,
    vault_settings: VaultSettings | None = None,
) -> TokenProvider:
    """The process-wide provider for these settings (read from the environment by default)."""
    return _PROVIDERS.get(
        (
            settings or load_settings(ProcessMakerSettings),
            vault_settings or load_settings(VaultSettings),
        )
    )


def reset_token_providers() -> None:
    """Forget every provider (tests, or after credentials were replaced by hand)."""
    _PROVIDERS.reset()
