"""ProcessMaker credentials as read from Vault, and which grant they call for."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

from processmaker_prefect.errors import ConfigurationError, VaultKeyMissingError
from processmaker_prefect.settings import GrantName

__all__ = ["CREDENTIAL_FIELDS", "GRANT_KEYS", "ProcessMakerCredentials", "choose_grant"]

# The keys each grant needs in the Vault secret, in the order doctor reports them.
GRANT_KEYS: dict[GrantName, tuple[str, ...]] = {
    "pat": ("personal_access_token",),
    "password": ("client_id", "client_secret", "username", "password"),
    "refresh_token": ("client_id", "client_secret", "refresh_token"),
    "client_credentials": ("client_id", "client_secret"),
}
CREDENTIAL_FIELDS = (
    "client_id",
    "client_secret",
    "username",
    "password",
    "personal_access_token",
    "refresh_token",
)


class ProcessMakerCredentials(BaseModel):
    """What a grant may use; every secret is a ``SecretStr`` so it never prints."""

    model_config = ConfigDict(frozen=True)

    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    personal_access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, SecretStr]) -> ProcessMakerCredentials:
        """Build from a Vault secret's data; unknown keys are ignored, blank values are absent."""
        values: dict[str, SecretStr | str] = {}
        for key in CREDENTIAL_FIELDS:
            secret = data.get(key)
            if secret is None or not secret.get_secret_value().strip():
                continue
            plain = key in ("client_id", "username")
            values[key] = secret.get_secret_value().strip() if plain else secret
        return cls.model_validate(values)

    def present(self) -> set[str]:
        """Names of the keys that have a value."""
        return {key for key in CREDENTIAL_FIELDS if getattr(self, key) is not None}

    def reveal(self, key: str, path: str) -> str:
        """The plain value of ``key``, for the one place a request is built."""
        value = getattr(self, key)
        if value is None:
            raise VaultKeyMissingError(f"Vault secret {path} has no '{key}': add it")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def require(self, grant: GrantName, path: str) -> None:
        """Raise VaultKeyMissingError naming the first key ``grant`` needs and lacks."""
        for key in GRANT_KEYS[grant]:
            if getattr(self, key) is None:
                raise VaultKeyMissingError(
                    f"Vault secret {path} has no '{key}', which the {grant} grant needs: "
                    f"add it (e.g. `bao kv patch {path} {key}=...`)"
                )


def choose_grant(
    explicit: GrantName | None,
    credentials: ProcessMakerCredentials,
    auth_setting: str = "PROCESSMAKER_AUTH",
) -> GrantName:
    """Return the grant to use: ``explicit`` (PROCESSMAKER_AUTH) or inferred from the keys.

    Inference prefers the simplest stateless credential: a personal access token, then
    username and password, then a stored refresh token, then bare client credentials.
    Call :meth:`ProcessMakerCredentials.require` on the result to report missing keys.
    """
    if explicit is not None:
        return explicit
    present = credentials.present()
    # A grant is chosen by its distinctive keys, so that a half-filled secret is reported
    # as "missing password", not silently served by another grant.
    if "personal_access_token" in present:
        return "pat"
    if present & {"username", "password"}:
        return "password"
    if "refresh_token" in present:
        return "refresh_token"
    if {"client_id", "client_secret"} <= present:
        return "client_credentials"
    raise ConfigurationError(
        "Cannot infer the grant from the Vault secret's keys "
        f"({', '.join(sorted(present)) or 'none'}): store personal_access_token, or client_id + "
        f"client_secret + username + password, or run `pm-prefect login`; or set {auth_setting}"
    )
