"""The Vault boundary: one hvac client and its token, retries, and the one error table.

Every hvac/requests failure is translated here, in :func:`translate`, and nowhere else.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import hvac
import hvac.exceptions as hx
import requests
from pydantic import SecretStr

from processmaker_prefect.errors import (
    ConfigurationError,
    ProcessMakerPrefectError,
    VaultAuthError,
    VaultCasConflictError,
    VaultError,
    VaultNotFoundError,
    VaultUnavailableError,
)
from processmaker_prefect.events import vault_session_event
from processmaker_prefect.redaction import redact
from processmaker_prefect.settings import VaultSettings
from processmaker_prefect.vault.logins import Login, make_login

__all__ = ["Op", "VaultSession", "translate"]

T = TypeVar("T")
_WIRE_ERRORS = (hx.VaultError, requests.RequestException)


@dataclass(frozen=True)
class Op:
    """What a call was doing, so a failure can say which path and which grant it needs.

    Attributes:
        action: A verb phrase, e.g. ``read``; ``log in`` marks the login itself.
        path: ``mount/sub/path`` as the caller gave it.
        api_path: The path a policy must grant, e.g. ``secret/data/pm/prod``.
        capability: The policy capability needed on ``api_path``.
        where: Mount and KV version, e.g. ``mount secret, KV v2``, once known.
    """

    action: str
    path: str
    api_path: str
    capability: str = "read"
    where: str = ""


# {field} is where that Vault setting came from: the variable, or the block's field.
_LOGIN_HINTS = {
    "token": "check {source} is valid and not expired or revoked",
    "approle": "check {role_id} and {secret_id} (or VAULT_SECRET_ID_FILE)",
    "kubernetes": "check {role}, VAULT_K8S_TOKEN_FILE and that the role binds this service account",
    "jwt": "check {role} and that the JWT's signature and claims match the role",
    "userpass": "check {username} and {password}",
    "cert": "check VAULT_CLIENT_CERT/VAULT_CLIENT_KEY are signed by a CA the cert method trusts "
    "and match VAULT_CERT_ROLE's constraints",
    "agent": "check {addr} is the Vault Agent's listener, that its api_proxy sets "
    "use_auto_auth_token = true and that its auto_auth has logged in (the agent's log)",
}


class _Names(dict[str, str]):
    """``{field}`` in a hint: where the setting came from (``VaultSettings.name_of``)."""

    def __init__(self, settings: VaultSettings, **given: str) -> None:
        super().__init__(given)
        self.settings = settings

    def __missing__(self, field: str) -> str:
        return self.settings.name_of(field)


_NO_MOUNT = ("token", "agent")  # no VAULT_AUTH_MOUNT to suggest
_SPACE = re.compile(r"\s+")


def _vault_said(exc: hx.VaultError, secrets: list[SecretStr | None]) -> str:
    """Vault's own error text, one line, without anything we hold as a secret."""
    errors = exc.errors if isinstance(exc.errors, list) else [exc.errors or ""]
    text = _SPACE.sub(" ", "; ".join(str(e) for e in errors if e)).strip(" *;") or "no detail"
    return redact(text, secrets)[:200]


def translate(
    exc: Exception, op: Op, settings: VaultSettings, login: Login, attempts: int
) -> ProcessMakerPrefectError:
    """The one hvac/requests -> taxonomy table. Messages name the cause and the fix."""
    where = f"Vault at {settings.addr}"
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, requests.exceptions.SSLError):
        return ConfigurationError(
            f"TLS to {where} failed ({type(exc).__name__}): set VAULT_CACERT to the CA that "
            "signs its certificate (or VAULT_CLIENT_CERT/VAULT_CLIENT_KEY if it wants one)"
        )
    if isinstance(exc, requests.RequestException):
        return VaultUnavailableError(
            f"{where} is unreachable ({type(exc).__name__}){tries}: check "
            f"{settings.name_of('addr')} and that the server is running"
        )
    assert isinstance(exc, hx.VaultError)  # noqa: S101 - _WIRE_ERRORS only
    said = _vault_said(exc, [settings.token, settings.secret_id, settings.password])
    if isinstance(exc, hx.VaultDown):
        if "seal" in said.lower():
            return VaultUnavailableError(
                f"{where} is sealed{tries}: unseal it (bao/vault "
                "operator unseal) or point VAULT_ADDR at an unsealed node"
            )
        return VaultUnavailableError(
            f"{where} is unavailable (503: {said}){tries}: wait for failover to finish or "
            "point VAULT_ADDR at the active node"
        )
    if isinstance(
        exc, hx.InternalServerError | hx.BadGateway | hx.RateLimitExceeded | hx.VaultNotInitialized
    ):
        return VaultUnavailableError(
            f"{where} failed to {op.action} {op.path} ({type(exc).__name__}: {said}){tries}: "
            "retry later or check the server's logs"
        )
    if op.action == "log in":
        at = settings.addr if login.method == "agent" else f"auth/{login.mount}"
        return VaultAuthError(
            f"Vault login with method {login.method} at {at} failed ({said}): "
            + _LOGIN_HINTS[login.method].format_map(
                _Names(settings, source=getattr(login, "source", ""))
            )
            + (
                ""
                if login.method in _NO_MOUNT
                else f"; set {settings.name_of('auth_mount')} if mounted elsewhere"
            )
        )
    if isinstance(exc, hx.Forbidden | hx.Unauthorized) and not op.where:
        # The mount lookup is refused both when no mount matches and when no policy
        # grants anything under the path: name both causes.
        return VaultAuthError(
            f"Vault denied finding the KV mount of {op.path} ({said}): check the mount name in "
            f"{settings.secret_setting} and that the token's policy grants read on the secret's "
            "path"
        )
    if isinstance(exc, hx.Forbidden | hx.Unauthorized):
        return VaultAuthError(
            f"Vault denied permission to {op.action} {op.path} ({said}): check the token's "
            f"policy grants {op.capability} on {op.api_path}"
        )
    if isinstance(exc, hx.InvalidPath):
        return VaultNotFoundError(
            f"No Vault secret at {op.path} ({op.where}, API path {op.api_path}): store it "
            f"there (bao kv put {op.path} ...) or fix {settings.secret_setting}"
        )
    if isinstance(exc, hx.InvalidRequest) and "check-and-set" in said:
        return VaultCasConflictError(
            f"Check-and-set write to {op.path} lost ({said}): another writer stored a newer "
            "version; read it again (fresh) and retry"
        )
    return VaultError(
        f"Vault refused to {op.action} {op.path} ({type(exc).__name__}: {said}): check the "
        "request against the mount's configuration"
    )


class VaultSession:
    """One hvac client and its token: logs in lazily, renews near expiry, re-logs in.

    Args:
        settings: Where Vault is and how to log in.
        attempts: Tries of a transient failure (unreachable, sealed, 5xx); 4xx never retried.
        backoff: Seconds before the second try, doubled for each further one.

    Raises:
        ConfigurationError: a setting the login method needs is missing.
    """

    def __init__(self, settings: VaultSettings, *, attempts: int = 4, backoff: float = 0.5) -> None:
        self.settings = settings
        self.login: Login = make_login(settings)  # fails fast, before any network call
        self.attempts = max(1, attempts)
        self.backoff = backoff
        verify: bool | str = (
            False if settings.skip_verify else str(settings.cacert) if settings.cacert else True
        )
        cert: tuple[str, str] | str | None = None
        if settings.client_cert is not None:
            cert = (str(settings.client_cert), str(settings.client_key or settings.client_cert))
        self.client = hvac.Client(
            url=settings.addr,
            token="",  # never hvac's own fallback to VAULT_TOKEN / ~/.vault-token
            namespace=settings.namespace,
            verify=verify,
            cert=cert,
            timeout=settings.timeout,
        )
        self.generation = 0
        self._logged_in = False
        self._expires_at: float | None = None
        self._ttl = 0.0  # the token's lifetime at login: renewal starts within half of it
        self._renewable = False
        # A token from a login method is ours to revoke; VAULT_TOKEN or an agent's is not.
        self._owns_token = self.login.method not in ("token", "agent")
        self._lock = threading.Lock()

    def ensure(self) -> int:
        """Log in, or renew/replace an expiring token; return the token's generation."""
        with self._lock:
            now = time.monotonic()
            if not self._logged_in or (self._expires_at is not None and now >= self._expires_at):
                self._login()
            elif self._expires_at is not None and now >= self._expires_at - self._window():
                self._renew_or_login()
            return self.generation

    def _window(self) -> float:
        """Renew this long before expiry: the leeway, but at most half the token's TTL, so
        a TTL at or under the leeway is renewed midway instead of before every call."""
        return min(self.settings.renew_leeway, self._ttl / 2)

    def relogin(self, seen: int) -> None:
        """Log in again unless another thread already replaced the token seen failing."""
        with self._lock:
            if self.generation == seen:
                self._login()

    def _login(self) -> None:
        old = self.client.token if self._logged_in and self._owns_token else None
        result = self.login.login(self.client)  # hvac may switch client.token already
        if old:
            self._revoke_self(old)  # the replaced token would otherwise live out its TTL
        self.client.token = result.token.get_secret_value()
        self._remember(result.lease_duration, result.renewable)
        self._ttl = float(result.lease_duration)
        self._logged_in = True
        vault_session_event("login", self, result.lease_duration, result.renewable)

    def _revoke_self(self, token: str) -> None:
        """``POST /v1/auth/token/revoke-self`` as ``token`` (in Vault's default policy, unlike
        revoking another token); best effort, since it may be expired or revoked already."""
        # A copy of the adapter (same pool, TLS settings, namespace) that speaks as ``token``.
        revoker = type(self.client.adapter).from_adapter(self.client.adapter)
        revoker.token = token
        with contextlib.suppress(*_WIRE_ERRORS):
            revoker.post("/v1/auth/token/revoke-self")

    def _renew_or_login(self) -> None:
        if not self._renewable:
            self._login()
            return
        try:
            auth = self.client.auth.token.renew_self()["auth"]
        except (hx.Forbidden, hx.InvalidRequest):  # revoked or past its max TTL
            self._login()
            return
        self._remember(int(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
        vault_session_event("renewed", self, int(auth.get("lease_duration") or 0), self._renewable)
        if self._expires_at is not None and (self._expires_at - time.monotonic() <= self._window()):
            # Capped by its max TTL: renewing again gains nothing, log in next time instead.
            self._renewable = False

    def _remember(self, lease_duration: int, renewable: bool) -> None:
        self.generation += 1
        self._expires_at = time.monotonic() + lease_duration if lease_duration > 0 else None
        self._renewable = renewable

    def describe(self) -> str:
        """How this session logs in, e.g. ``approle (mount approle)``."""
        if self.login.method == "token":
            return f"token (from {getattr(self.login, 'source', 'VAULT_TOKEN')})"
        if self.login.method == "agent":
            return f"agent (its token from auth/{self.login.mount}, via {self.settings.addr})"
        return f"{self.login.method} (mount {self.login.mount})"

    def call(self, op: Op, fn: Callable[[hvac.Client], T]) -> T:
        """Run ``fn`` logged in: retry transient failures, re-log in once on a 403.

        Raises:
            VaultError: translated by :func:`translate`.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(op, fn, attempt)
            except VaultUnavailableError:
                if attempt == self.attempts:
                    raise
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, op: Op, fn: Callable[[hvac.Client], T], attempt: int) -> T:
        login_op = Op("log in", op.path, "")
        try:
            seen = self.ensure()
        except _WIRE_ERRORS as exc:
            raise self.translate(exc, login_op, attempt) from exc
        try:
            return fn(self.client)
        except hx.Forbidden:
            pass  # the token may have been revoked or expired early: log in once, retry once
        except _WIRE_ERRORS as exc:
            raise self.translate(exc, op, attempt) from exc
        try:
            self.relogin(seen)
        except _WIRE_ERRORS as exc:
            raise self.translate(exc, login_op, attempt) from exc
        try:
            return fn(self.client)
        except _WIRE_ERRORS as exc:
            raise self.translate(exc, op, attempt) from exc

    def translate(self, exc: Exception, op: Op, attempts: int = 1) -> ProcessMakerPrefectError:
        """:func:`translate` with this session's settings and login."""
        return translate(exc, op, self.settings, self.login, attempts)

    def close(self) -> None:
        """Revoke the token if a login here made it, and close the HTTP connection pool."""
        with self._lock:
            if self._logged_in and self._owns_token and self.client.token:
                self._revoke_self(self.client.token)
            self._logged_in = False
        self.client.adapter.close()
