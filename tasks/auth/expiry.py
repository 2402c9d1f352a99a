"""When each credential in use expires: the horizon behind doctor's and the healthcheck's table.

Every date comes from the credential itself or from Vault; what cannot be known is reported
as unknown with the reason, never guessed:

================  ===========================================================================
access_token      the token the grant gave: ``expires_in`` / JWT ``exp``
pat               the personal access token's JWT ``exp`` (opaque: unknown)
refresh_token     ``refresh_token_issued_at`` stored beside it + Passport's one year
vault_token       ``auth/token/lookup-self``: TTL, renewable, explicit max TTL
approle_secret_id ``auth/<mount>/role/<role>/secret-id/lookup`` where the policy allows
================  ===========================================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from processmaker_prefect.auth.credentials import ProcessMakerCredentials
from processmaker_prefect.auth.token_endpoint import jwt_claims
from processmaker_prefect.errors import ProcessMakerPrefectError
from processmaker_prefect.events import emit, instance_resource, iso, secret_resource
from processmaker_prefect.settings import GrantName, ProcessMakerSettings, VaultSettings
from processmaker_prefect.vault import VaultSecret, VaultSecrets
from processmaker_prefect.vault.lookups import lookup_secret_id, lookup_token

__all__ = ["REFRESH_TOKEN_LIFETIME", "Horizon", "credential_horizons", "emit_expiring"]

# Passport's refreshTokensExpireIn default (P1Y); ProcessMaker does not override it
# (API-NOTES.md "Lifetimes"). The refresh token itself is opaque: its issue time is ours.
REFRESH_TOKEN_LIFETIME = 365 * 86400.0
ISSUED_AT_KEY = "refresh_token_issued_at"

State = Literal["expires", "never", "unknown"]


@dataclass(frozen=True)
class Horizon:
    """One credential's expiry; plain data, no secret.

    Attributes:
        credential: ``access_token``, ``pat``, ``refresh_token``, ``vault_token`` or
            ``approle_secret_id``.
        state: ``expires`` (at ``expires_at``), ``never`` or ``unknown``.
        expires_at: Epoch seconds when ``state`` is ``expires``.
        source: How it is known, or why it is not.
        replaced: Whether the code replaces it by itself before it expires (then no warning).
    """

    credential: str
    state: State
    expires_at: float | None
    source: str
    replaced: bool = False

    def days_left(self, now: float | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return (self.expires_at - (time.time() if now is None else now)) / 86400

    def expiring(self, warning_days: float, now: float | None = None) -> bool:
        """Needs a human within ``warning_days``: it expires and nothing replaces it."""
        left = self.days_left(now)
        return not self.replaced and left is not None and left <= warning_days

    def row(self, warning_days: float) -> dict[str, str]:
        """A table row: credential, expires (UTC), in (days), how known, attention."""
        left = self.days_left()
        expires = {"never": "never", "unknown": "unknown"}.get(self.state) or (
            iso(self.expires_at) or ""
        )[:16].replace("T", " ")
        attention = (
            "EXPIRING" if self.expiring(warning_days) else "renewed automatically"
            if self.replaced else ""
        )  # fmt: skip
        return {
            "credential": self.credential,
            "expires": expires + (" UTC" if self.state == "expires" else ""),
            "in": "" if left is None else f"{left:.1f} days",
            "source": self.source,
            "attention": attention,
        }


def _jwt_expiry(credential: str, value: SecretStr, what: str, replaced: bool) -> Horizon:
    exp = jwt_claims(value.get_secret_value()).get("exp")
    if isinstance(exp, int | float):
        return Horizon(credential, "expires", float(exp), f"{what} JWT exp", replaced)
    return Horizon(credential, "unknown", None, f"{what} is opaque (not a JWT)", replaced)


def _refresh_token(secret: VaultSecret) -> Horizon:
    raw = secret.data.get(ISSUED_AT_KEY)
    try:
        issued = float(raw.get_secret_value()) if raw is not None else None
    except ValueError:
        issued = None
    if issued is None:
        return Horizon(
            "refresh_token", "unknown", None, f"issue time not stored ({ISSUED_AT_KEY} absent)"
        )
    return Horizon(
        "refresh_token",
        "expires",
        issued + REFRESH_TOKEN_LIFETIME,
        f"issued {(iso(issued) or '')[:10]} + Passport's one year",
        replaced=False,
    )


def _vault(vault: VaultSecrets) -> list[Horizon]:
    """The Vault token, and the AppRole secret id it was logged in with."""
    try:
        info = lookup_token(vault)
    except ProcessMakerPrefectError as exc:
        return [Horizon("vault_token", "unknown", None, f"lookup-self refused ({exc})")]
    # A login method logs in again when its token runs out; a VAULT_TOKEN cannot.
    relogs = info.method != "token"
    limit = (
        f", max TTL {info.explicit_max_ttl}s" if info.explicit_max_ttl
        else ", periodic" if info.period else ", max TTL: the mount's (not visible to the token)"
    )  # fmt: skip
    how = f"lookup-self ttl, {'renewable' if info.renewable else 'not renewable'}{limit}"
    if info.ttl <= 0:
        horizons = [Horizon("vault_token", "never", None, "lookup-self: no TTL", relogs)]
    else:
        horizons = [Horizon("vault_token", "expires", time.time() + info.ttl, how, relogs)]
    if info.method == "approle":
        horizons.append(_secret_id(vault, info.role_name))
    return horizons


def _secret_id(vault: VaultSecrets, role_name: str | None) -> Horizon:
    if not role_name:
        return Horizon("approle_secret_id", "unknown", None, "role name not in the token's meta")
    try:
        found = lookup_secret_id(vault, role_name)
    except ProcessMakerPrefectError as exc:
        return Horizon(
            "approle_secret_id",
            "unknown",
            None,
            f"secret-id lookup not allowed ({type(exc).__name__}): grant update on "
            f"auth/{vault._session.login.mount}/role/{role_name}/secret-id/lookup",
        )
    uses = "" if found.uses_left is None else f", {found.uses_left} uses left"
    if found.expires_at is None:
        return Horizon("approle_secret_id", "never", None, f"secret-id lookup: no TTL{uses}")
    return Horizon("approle_secret_id", "expires", found.expires_at, f"secret-id lookup{uses}")


def credential_horizons(
    grant: GrantName,
    credentials: ProcessMakerCredentials,
    secret: VaultSecret,
    vault: VaultSecrets,
    access_expires_at: float | None,
) -> list[Horizon]:
    """The horizon of every credential the ``grant`` uses, then Vault's.

    Args:
        grant: The grant in use.
        credentials: From the Vault secret.
        secret: The Vault secret (for the refresh token's issue time).
        vault: The process's Vault client (its token is looked up).
        access_expires_at: The current access token's expiry, if any.
    """
    horizons: list[Horizon] = []
    if grant == "pat" and credentials.personal_access_token is not None:
        horizons.append(
            _jwt_expiry("pat", credentials.personal_access_token, "the PAT's", replaced=False)
        )
    else:
        state: State = "unknown" if access_expires_at is None else "expires"
        source = "token response" if access_expires_at else "no expires_in nor JWT exp"
        horizons.append(Horizon("access_token", state, access_expires_at, source, replaced=True))
    if grant == "refresh_token":
        horizons.append(_refresh_token(secret))
    horizons.extend(_vault(vault))
    return horizons


def emit_expiring(
    horizons: list[Horizon], settings: ProcessMakerSettings, vault_settings: VaultSettings
) -> list[Horizon]:
    """Emit ``processmaker.credential.expiring`` for each horizon within the warning window."""
    due = [h for h in horizons if h.expiring(settings.expiry_warning_days)]
    for horizon in due:
        left = horizon.days_left()
        emit(
            "processmaker.credential.expiring",
            instance_resource(
                settings.url, settings.block, **{"processmaker.credential": horizon.credential}
            ),
            related=[secret_resource(settings.secret, vault_settings.addr)],
            payload={
                "credential": horizon.credential,
                "expires_at": iso(horizon.expires_at),
                "days_left": None if left is None else round(left, 2),
                "warning_days": settings.expiry_warning_days,
                "source": horizon.source,
            },
        )
    return due
