"""Configuration read once from the environment: the Vault CLI's ``VAULT_*``, ``PROCESSMAKER_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.url_credentials import refuse_userinfo

__all__ = [
    "GrantName",
    "ProcessMakerSettings",
    "VaultAuthMethod",
    "VaultSettings",
    "load_settings",
]

VaultAuthMethod = Literal["token", "approle", "kubernetes", "jwt", "userpass", "cert", "agent"]
GrantName = Literal["password", "pat", "refresh_token", "client_credentials"]

DEFAULT_K8S_TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class VaultSettings(BaseSettings):
    """Where Vault is and how to log in, named as the Vault CLI names them."""

    model_config = SettingsConfigDict(env_prefix="VAULT_", extra="ignore", frozen=True)

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


class ProcessMakerSettings(BaseSettings):
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
    sync_lag: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="A sync reads changes up to this many seconds ago; younger ones next run.",
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


def load_settings(cls: type[S], **overrides: object) -> S:
    """Read ``cls`` from the environment, turning validation errors into one clear line.

    Raises:
        ConfigurationError: naming each offending environment variable and why.
    """
    prefix = cls.model_config.get("env_prefix", "")
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"])
            reason = "is required" if err["type"] == "missing" else err["msg"].lower()
            problems.append(f"{prefix}{field.upper()} {reason}")
        raise ConfigurationError(
            "Invalid configuration: " + "; ".join(problems) + " (set it in the environment "
            "or in the Prefect block)"
        ) from None
