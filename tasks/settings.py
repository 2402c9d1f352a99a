"""Configuration read once from the environment: the Vault CLI's ``VAULT_*``, ``PROCESSMAKER_*``.

Settings may also come from a ProcessMaker Connection block, whose fields override the
environment's. Each settings object remembers that (:meth:`SourcedSettings.name_of`), so an
error's fix names where the value came from: "the vault_role_id field of block pm-prod" for
a run on a block, ``VAULT_ROLE_ID`` for one on the worker's environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.url_credentials import refuse_userinfo

__all__ = [
    "GrantName",
    "ProcessMakerSettings",
    "SourcedSettings",
    "VaultAuthMethod",
    "VaultSettings",
    "env_name",
    "load_settings",
]

VaultAuthMethod = Literal["token", "approle", "kubernetes", "jwt", "userpass", "cert", "agent"]
GrantName = Literal["password", "pat", "refresh_token", "client_credentials"]

DEFAULT_K8S_TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class SourcedSettings(BaseSettings):
    """Settings that know which of their values a Prefect block gave (see the module)."""

    #: How a block names this class's fields: ``vault_`` + the field for Vault's.
    block_prefix: ClassVar[str] = ""
    _block: str | None = PrivateAttr(None)
    _from_block: frozenset[str] = PrivateAttr(frozenset())
    _block_offers: frozenset[str] = PrivateAttr(frozenset())

    @property
    def block(self) -> str | None:
        """The name of the block these settings came from, if any."""
        return self._block

    def name_of(self, field: str) -> str:
        """Where to fix ``field``: the block's field when the block set it (or could, and
        the environment does not), else the environment variable."""
        variable = env_name(type(self), field)
        block_field = f"{self.block_prefix}{field}"
        if self._block is None:
            return variable
        if field in self._from_block:
            return f"the {block_field} field of block {self._block}"
        if field in self._block_offers and not _in_environment(variable):
            return f"the {block_field} field of block {self._block}"
        return f"the worker's {variable}"


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable of ``cls``'s ``field``, e.g. ``VAULT_ROLE_ID``."""
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _in_environment(variable: str) -> bool:
    # pydantic-settings reads variables case-insensitively.
    return any(name.upper() == variable for name in os.environ)


class VaultSettings(SourcedSettings):
    """Where Vault is and how to log in, named as the Vault CLI names them."""

    model_config = SettingsConfigDict(env_prefix="VAULT_", extra="ignore", frozen=True)
    block_prefix: ClassVar[str] = "vault_"
    # Where the Vault path of ProcessMaker's credentials is set, for Vault's own errors.
    _secret_named: str = PrivateAttr("PROCESSMAKER_SECRET")

    @property
    def secret_setting(self) -> str:
        """Where the path of the ProcessMaker secret read through this Vault is set."""
        return self._secret_named

    addr: str = Field(
        "http://127.0.0.1:8200",
        description="Vault address, as for the Vault CLI (VAULT_ADDR).",
        min_length=1,
    )
    namespace: str | None = Field(None, description="Vault Enterprise / OpenBao namespace.")
    cacert: Path | None = Field(None, description="CA bundle that signs Vault's TLS certificate.")
    client_cert: Path | None = Field(None, description="Client certificate for TLS auth.")
    client_key: Path | None = Field(None, description="Key of the client certificate.")
    skip_verify: bool = Field(False, description="Skip TLS verification. Never in production.")
    timeout: float = Field(10.0, gt=0, le=300, description="Seconds per Vault HTTP call.")
    max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a transient Vault failure (the CLI's name)."
    )

    auth_method: VaultAuthMethod = Field("token", description="How to log in to Vault.")
    auth_mount: str | None = Field(
        None, description="Mount of the auth method when not its default (e.g. 'approle-prod')."
    )
    token: SecretStr | None = Field(None, description="Vault token (auth_method=token).")
    token_file: Path | None = Field(
        None, description="File holding the token, e.g. a Vault Agent's sink (auth_method=token)."
    )
    role_id: str | None = Field(None, description="AppRole role id (auth_method=approle).")
    secret_id: SecretStr | None = Field(
        None, description="AppRole secret id (auth_method=approle)."
    )
    secret_id_file: Path | None = Field(
        None, description="File holding the AppRole secret id, instead of VAULT_SECRET_ID."
    )
    role: str | None = Field(None, description="Role for the kubernetes and jwt methods.")
    k8s_token_file: Path = Field(
        DEFAULT_K8S_TOKEN_FILE, description="Service-account token file (auth_method=kubernetes)."
    )
    jwt: SecretStr | None = Field(None, description="JWT to log in with (auth_method=jwt).")
    jwt_file: Path | None = Field(None, description="File holding the JWT, instead of VAULT_JWT.")
    username: str | None = Field(None, description="Username (auth_method=userpass).")
    password: SecretStr | None = Field(None, description="Password (auth_method=userpass).")
    cert_role: str | None = Field(
        None, description="Certificate role to log in as (auth_method=cert); unset: any."
    )
    renew_leeway: float = Field(
        60.0, ge=0, le=86400, description="Renew the Vault token this many seconds before expiry."
    )


class ProcessMakerSettings(SourcedSettings):
    """Which ProcessMaker instance to call, where its credentials live, how to call it."""

    model_config = SettingsConfigDict(env_prefix="PROCESSMAKER_", extra="ignore", frozen=True)

    url: str = Field(
        ...,
        description="Base URL of the ProcessMaker instance, e.g. https://pm.example.com.",
        min_length=1,
    )
    secret: str = Field(
        ...,
        description="Vault secret holding the credentials, as mount/path "
        "(e.g. secret/processmaker/prod).",
        min_length=3,
    )
    auth: GrantName | None = Field(
        None, description="Grant to use; inferred from the keys in the secret when unset."
    )
    allow_insecure_http: bool = Field(
        False, description="Allow plain http:// to a host other than loopback."
    )
    ca_bundle: Path | None = Field(
        None, description="CA bundle for ProcessMaker's TLS certificate."
    )
    verify_tls: bool = Field(True, description="Verify ProcessMaker's TLS certificate.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds per ProcessMaker HTTP call.")
    retries: int = Field(5, ge=0, le=20, description="Retries of a transient failure per call.")
    backoff: float = Field(0.5, ge=0, le=60, description="Backoff factor between retries, seconds.")
    page_rounds: int = Field(
        2, ge=1, le=5, description="Rounds of retries a list page gets before its error escapes."
    )
    page_round_delay: float = Field(
        15.0, ge=0, le=600, description="Seconds before a list page's next round (doubling)."
    )
    breaker_threshold: int = Field(
        10,
        ge=1,
        le=1000,
        description="Failed calls in a row (all threads) after which ProcessMaker counts as "
        "down and every call fails at once.",
    )
    breaker_cooldown: float = Field(
        60.0, ge=0, le=3600, description="Seconds calls stay stopped before one trial call."
    )
    page_size: int = Field(500, ge=1, le=1000, description="Records per page when listing.")
    max_concurrency: int = Field(4, ge=1, le=32, description="Pages fetched at once.")
    resource_concurrency: int = Field(
        5,
        ge=1,
        le=16,
        description="Resources one sync runs at once (into DuckDB, their readers feed one writer).",
    )
    sync_lag: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="A sync reads changes up to this many seconds ago; younger ones next run.",
    )
    max_variable_columns: int = Field(
        300,
        ge=1,
        le=1500,
        description="Columns a request_variables table (one per process) takes at most; "
        "later keys stay in raw (PostgreSQL allows 1,600 columns a table).",
    )
    expiry_warning_days: float = Field(
        14.0, ge=0, le=3650, description="Warn when a credential expires within this many days."
    )
    token_leeway: float = Field(
        300.0, ge=0, le=86400, description="Refresh a token this many seconds before it expires."
    )
    share_token: bool = Field(
        False,
        description="Share the password/client_credentials access token between processes "
        "through the Vault secret (needs update on it); refresh_token always shares.",
    )
    token_min_interval: float = Field(
        5.0, ge=0, le=3600, description="At most one grant per this many seconds per secret."
    )

    @field_validator("url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        # user:pass@ would go out as Basic auth and into every message naming the instance.
        return refuse_userinfo(value).rstrip("/")

    @field_validator("secret")
    @classmethod
    def _mount_and_path(cls, value: str) -> str:
        value = value.strip("/")
        if "/" not in value:
            raise ValueError("must be mount/path, e.g. secret/processmaker/prod")
        return value


S = TypeVar("S", bound=BaseSettings)


def load_settings(
    cls: type[S], *, block: str | None = None, offers: Iterable[str] = (), **overrides: object
) -> S:
    """Read ``cls`` from the environment (``overrides`` first), turning validation errors into
    one clear line.

    Args:
        cls: The settings class.
        block: The block ``overrides`` come from; errors then name its fields.
        offers: The fields of ``cls`` that the block has (set or empty).
        **overrides: Values over the environment's.

    Raises:
        ConfigurationError: naming each offending variable or block field and why.
    """
    try:
        settings = cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"])
            reason = "is required" if err["type"] == "missing" else err["msg"].lower()
            problems.append(f"{_named(cls, field, block, overrides, offers)} {reason}")
        where = "in the block" if block else "in the environment or in the Prefect block"
        raise ConfigurationError(
            "Invalid configuration: " + "; ".join(problems) + f" (set it {where})"
        ) from None
    if block is not None and isinstance(settings, SourcedSettings):
        settings._block = block
        settings._from_block = frozenset(overrides)
        settings._block_offers = frozenset(offers)
    return settings


def _named(
    cls: type[BaseSettings],
    field: str,
    block: str | None,
    overrides: dict[str, object],
    offers: Iterable[str],
) -> str:
    variable = env_name(cls, field)
    if block is None or not issubclass(cls, SourcedSettings):
        return variable
    if field in overrides or (field in set(offers) and not _in_environment(variable)):
        return f"the {cls.block_prefix}{field} field of block {block}"
    return f"the worker's {variable}"
