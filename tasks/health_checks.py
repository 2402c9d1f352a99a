"""The checks behind ``pm-prefect doctor`` and the healthcheck flow, one function each.

Each check returns a one-line detail or raises one of our errors; ``run_checks`` stops at
the first failure, because every later check depends on the ones before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.api.tls import check_transport
from processmaker_prefect.auth import BearerAuth, TokenProvider, get_token_provider
from processmaker_prefect.auth.credentials import (
    CREDENTIAL_FIELDS,
    ProcessMakerCredentials,
    choose_grant,
)
from processmaker_prefect.auth.expiry import credential_horizons, emit_expiring
from processmaker_prefect.errors import ProcessMakerPrefectError
from processmaker_prefect.events import emit, instance_resource, secret_resource
from processmaker_prefect.settings import ProcessMakerSettings, VaultSettings, load_settings
from processmaker_prefect.vault import get_vault

__all__ = ["CheckResult", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: never holds a secret value."""

    name: str
    ok: bool
    detail: str
    warning: bool = False  # passed, but needs attention soon (a credential expiring)
    rows: tuple[dict[str, str], ...] = ()  # a table under the line (the expiry check)


@dataclass
class _Context:
    """What earlier checks found, for the later ones."""

    given_pm: ProcessMakerSettings | None = None
    given_vault: VaultSettings | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def pm(self) -> ProcessMakerSettings:
        if self.given_pm is None:
            self.given_pm = load_settings(ProcessMakerSettings)
        return self.given_pm

    @property
    def vault(self) -> VaultSettings:
        if self.given_vault is None:
            self.given_vault = load_settings(VaultSettings)
        return self.given_vault

    @property
    def provider(self) -> TokenProvider:
        return get_token_provider(self.pm, self.vault)


def _configuration(ctx: _Context) -> str:
    # Vetted here, not only when the token is first needed, so that plain HTTP to a remote
    # host is reported as the configuration problem it is.
    check_transport(
        ctx.pm.url, allow_insecure_http=ctx.pm.allow_insecure_http, name_of=ctx.pm.name_of
    )
    return f"ProcessMaker {ctx.pm.url}, secret {ctx.pm.secret}, Vault {ctx.vault.addr}"


def _vault_login(ctx: _Context) -> str:
    vault = get_vault(ctx.vault)
    return f"reachable at {ctx.vault.addr}, logged in with {vault.logged_in_as()}"


def _secret(ctx: _Context) -> str:
    secret = get_vault(ctx.vault).read(ctx.pm.secret, fresh=True)
    credentials = ProcessMakerCredentials.from_mapping(secret.data)
    ctx.facts["credentials"] = credentials
    ctx.facts["secret"] = secret
    keys = [f"{key}=****" for key in CREDENTIAL_FIELDS if key in credentials.present()]
    version = f"KV v{secret.kv_version}" + (f", version {secret.version}" if secret.version else "")
    return f"{ctx.pm.secret} ({version}) holds {', '.join(keys) or 'no known keys'}"


def _grant(ctx: _Context) -> str:
    credentials: ProcessMakerCredentials = ctx.facts["credentials"]
    grant = choose_grant(ctx.pm.auth, credentials, ctx.pm.name_of("auth"))
    credentials.require(grant, ctx.pm.secret)
    ctx.facts["grant"] = grant
    how = "PROCESSMAKER_AUTH" if ctx.pm.auth else "inferred from the secret's keys"
    return f"{grant} ({how})"


def _token(ctx: _Context) -> str:
    token = ctx.provider.token()
    if token.expires_at is None:
        life = "expiry unknown"
    else:
        life = f"expires in {max(0, token.expires_at - time.time()) / 86400:.1f} days"
    return f"obtained with the {ctx.provider.grant_name} grant, {life}"


def _api_call(ctx: _Context) -> str:
    with ProcessMakerClient.from_settings(ctx.pm, BearerAuth(ctx.provider)) as client:
        # ProcessMaker has no /users/me: the JWT's sub is the user id.
        subject = ctx.provider.token().subject()
        if subject is not None and subject.isdigit():
            user = client.get_user(int(subject))
            return f"GET /api/1.0/users/{subject} -> authenticated as {user.get('username')!s}"
        client.get("/users", params={"per_page": 1})
        return "GET /api/1.0/users -> authenticated (opaque token: user unknown)"


def _expiry(ctx: _Context) -> CheckResult:
    days = ctx.pm.expiry_warning_days
    horizons = credential_horizons(
        ctx.facts["grant"],
        ctx.facts["credentials"],
        ctx.facts["secret"],
        get_vault(ctx.vault),
        ctx.provider.token().expires_at,
    )
    due = emit_expiring(horizons, ctx.pm, ctx.vault)
    rows = tuple(h.row(days) for h in horizons)
    known = sum(h.state != "unknown" for h in horizons)
    if due:
        soonest = min(due, key=lambda h: h.expires_at or 0.0)
        detail = (
            f"{len(due)} credential(s) expire within {days:g} days: {soonest.credential} in "
            f"{soonest.days_left():.1f} days; replace it before then"
        )
    else:
        detail = f"nothing expires within {days:g} days ({known} of {len(horizons)} known)"
    return CheckResult("expiry", True, detail, warning=bool(due), rows=rows)


def _failed(ctx: _Context, name: str, exc: ProcessMakerPrefectError) -> None:
    """Emit ``processmaker.credential.check_failed``: messages name causes, never secrets."""
    pm, vault = ctx.given_pm, ctx.given_vault
    emit(
        "processmaker.credential.check_failed",
        instance_resource(pm.url, pm.block)
        if pm
        else {"prefect.resource.id": "processmaker.instance"},
        related=[secret_resource(pm.secret, vault.addr if vault else None)] if pm else [],
        payload={"check": name, "error": type(exc).__name__, "message": str(exc)[:500]},
    )


CHECKS: list[tuple[str, Callable[[_Context], str]]] = [
    ("configuration", _configuration),
    ("vault", _vault_login),
    ("secret", _secret),
    ("grant", _grant),
    ("token", _token),
    ("api", _api_call),
]


def run_checks(
    settings: ProcessMakerSettings | None = None, vault_settings: VaultSettings | None = None
) -> Iterator[CheckResult]:
    """Run the checks in order, yielding each result; stop after the first failure.

    The last check, ``expiry``, lists every credential's horizon in ``rows`` and emits
    ``processmaker.credential.expiring`` for each one within PROCESSMAKER_EXPIRY_WARNING_DAYS.
    """
    ctx = _Context(settings, vault_settings)
    for name, check in CHECKS:
        try:
            detail = check(ctx)
        except ProcessMakerPrefectError as exc:
            _failed(ctx, name, exc)
            yield CheckResult(name, False, f"{type(exc).__name__}: {exc}")
            return
        yield CheckResult(name, True, detail)
    try:
        yield _expiry(ctx)
    except ProcessMakerPrefectError as exc:
        _failed(ctx, "expiry", exc)
        yield CheckResult("expiry", False, f"{type(exc).__name__}: {exc}")
