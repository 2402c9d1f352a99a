"""What the sandbox accepts and serves: credentials, data size, token lifetime."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SandboxConfig"]

# Passport's default access/refresh token lifetime (tokensExpireIn = P1Y), in seconds.
ONE_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class SandboxConfig:
    """Settings of one sandbox instance.

    The credentials are the ones the sandbox *accepts*: its one password-grant client, the
    admin user (id 1, a ProcessMaker ``username``, not an email) and a personal access
    token issued to that user. They are demo values, printed at start-up on purpose.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    records: int = 1000
    seed: int = 1
    ties: int = 3  # seeded requests per updated_at value
    distinct_updated_at: int = 0  # >0: only this many updated_at values over all requests
    client_id: str = "1"
    client_secret: str = "sandbox0client0secret0not0for0production"
    username: str = "admin"
    password: str = "sandbox-admin-password"
    pat: str = "sandbox-personal-access-token-for-admin-user-1"
    token_ttl: int = ONE_YEAR  # Passport's tokensExpireIn, seconds
    refresh_token_ttl: int = ONE_YEAR  # refreshTokensExpireIn
    personal_token_ttl: int = ONE_YEAR  # personalAccessTokensExpireIn
    throttle_per_minute: int = 60
    database: str | None = None  # SQLite file; None keeps it in a temporary directory
    certfile: str | None = None  # PEM certificate (chain): serve HTTPS instead of HTTP
    keyfile: str | None = None  # PEM private key of that certificate
    hostile_data: bool = False  # add the requests of sandbox.hostile after the seeded ones

    @property
    def scheme(self) -> str:
        return "https" if self.certfile else "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"
