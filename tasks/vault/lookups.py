"""What Vault says about our own login: the token's TTL and the AppRole secret id's expiry.

Both are read-only lookups a policy may refuse; a refusal is reported as "unknown" with the
path to grant, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from processmaker_prefect.errors import VaultError
from processmaker_prefect.vault.logins import _secret_from
from processmaker_prefect.vault.secrets import VaultSecrets
from processmaker_prefect.vault.session import Op

__all__ = ["SecretIdInfo", "TokenInfo", "lookup_secret_id", "lookup_token"]

_NO_EXPIRY = "0001-01-01T00:00:00Z"  # Vault's zero time: the secret id has no TTL


@dataclass(frozen=True)
class TokenInfo:
    """``auth/token/lookup-self`` for the session's token (no token value).

    Attributes:
        ttl: Seconds left; 0 means the token never expires (e.g. a root token).
        renewable: Whether ``renew-self`` may extend it.
        explicit_max_ttl: Seconds after creation it can never outlive; 0 = the mount's or
            the system's max TTL, which the token cannot see.
        period: Seconds of a periodic token (renewable for ever), else 0.
        creation_time: Epoch seconds it was created.
        role_name: The AppRole role it came from, if any.
        method: The login method of the session.
    """

    ttl: int
    renewable: bool
    explicit_max_ttl: int
    period: int
    creation_time: float | None
    role_name: str | None
    method: str


@dataclass(frozen=True)
class SecretIdInfo:
    """``auth/<mount>/role/<role>/secret-id/lookup`` (no secret id value).

    Attributes:
        expires_at: Epoch seconds, or ``None`` when the secret id has no TTL.
        uses_left: Uses left, or ``None`` when unlimited.
    """

    expires_at: float | None
    uses_left: int | None


def _session_call(vault: VaultSecrets, op: Op, fn: Any) -> Any:
    return vault._session.call(op, fn)  # the vault package's own session


def lookup_token(vault: VaultSecrets) -> TokenInfo:
    """Route: ``GET /v1/auth/token/lookup-self``.

    Raises:
        VaultError: refused or unreachable.
    """
    op = Op("look up the token at", "auth/token/lookup-self", "auth/token/lookup-self")
    data = _session_call(vault, op, lambda c: c.auth.token.lookup_self())["data"]
    created = data.get("creation_time")
    meta = data.get("meta") or {}
    return TokenInfo(
        ttl=int(data.get("ttl") or 0),
        renewable=bool(data.get("renewable")),
        explicit_max_ttl=int(data.get("explicit_max_ttl") or 0),
        period=int(data.get("period") or 0),
        creation_time=float(created) if isinstance(created, int | float) else None,
        role_name=meta.get("role_name") if isinstance(meta, dict) else None,
        method=vault._session.login.method,
    )


def lookup_secret_id(vault: VaultSecrets, role_name: str) -> SecretIdInfo:
    """Route: ``POST /v1/auth/<mount>/role/<role_name>/secret-id/lookup``.

    Raises:
        VaultError: the policy does not grant ``update`` on that path, or Vault is down.
        ProcessMakerPrefectError: the secret id cannot be read (``VAULT_SECRET_ID_FILE``).
    """
    session = vault._session
    settings = session.settings
    mount = session.login.mount
    secret_id = _secret_from(
        settings.secret_id, settings.secret_id_file, "VAULT_SECRET_ID", "approle"
    )
    path = f"auth/{mount}/role/{role_name}/secret-id/lookup"
    op = Op("look up the secret id at", path, path, capability="update")
    body = _session_call(
        vault,
        op,
        lambda c: c.adapter.post(f"/v1/{path}", json={"secret_id": secret_id.get_secret_value()}),
    )
    data = (body or {}).get("data") if isinstance(body, dict) else None
    if not data:
        raise VaultError(f"Vault does not know this secret id of role {role_name} (at {path})")
    expiry = str(data.get("expiration_time") or _NO_EXPIRY)
    expires_at = None if expiry.startswith("0001-") else datetime.fromisoformat(expiry).timestamp()
    limit = int(data.get("secret_id_num_uses") or 0)
    return SecretIdInfo(expires_at=expires_at, uses_left=limit or None)
