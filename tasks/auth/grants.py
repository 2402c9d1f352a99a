"""One small class per way of obtaining a ProcessMaker bearer token, behind one interface."""

from __future__ import annotations

import logging
from typing import Protocol

from oauthlib.oauth2 import BackendApplicationClient, Client, LegacyApplicationClient
from pydantic import SecretStr

from processmaker_prefect.auth.credentials import CREDENTIAL_FIELDS, ProcessMakerCredentials
from processmaker_prefect.auth.shared import SharedToken
from processmaker_prefect.auth.token import Token, jwt_claims
from processmaker_prefect.auth.token_endpoint import TokenEndpoint
from processmaker_prefect.errors import (
    ConfigurationError,
    ProcessMakerAuthError,
    TokenRejectedError,
)
from processmaker_prefect.settings import GrantName
from processmaker_prefect.vault import VaultSecret, VaultSecrets

__all__ = [
    "ClientCredentialsGrant",
    "Grant",
    "PasswordGrant",
    "PersonalAccessTokenGrant",
    "RefreshTokenGrant",
    "make_grant",
]

logger = logging.getLogger(__name__)


class Grant(Protocol):
    """Obtains a fresh token. Called by the TokenProvider only, under its lock.

    ``rejected`` is the access token that just got a 401, if that is why a token is asked for.
    """

    name: GrantName

    def obtain(self, rejected: SecretStr | None = None) -> Token: ...


class _VaultBacked:
    """A grant whose credentials are read from one Vault secret.

    Reads are served from the Vault client's cache, except after a 401 or a rejection: then
    the secret is read again, and a grant the server refused is tried once more only if the
    credentials in Vault changed (someone fixed them), so a fix reaches a running process.
    When ``shared`` is set, the token is shared with other processes through the secret.
    """

    name: GrantName

    def __init__(
        self,
        vault: VaultSecrets,
        path: str,
        endpoint: TokenEndpoint,
        *,
        shared: SharedToken | None = None,
    ) -> None:
        self.vault = vault
        self.path = path
        self.endpoint = endpoint
        self.shared = shared
        self._stale = False  # the last grant was refused: next read bypasses the cache

    def _read(self, *, fresh: bool = False) -> tuple[VaultSecret, ProcessMakerCredentials]:
        secret = self.vault.read(self.path, fresh=fresh or self._stale)
        self._stale = False
        return secret, self._credentials(secret)

    def _credentials(self, secret: VaultSecret) -> ProcessMakerCredentials:
        credentials = ProcessMakerCredentials.from_mapping(secret.data)
        credentials.require(self.name, self.path)
        return credentials

    def obtain(self, rejected: SecretStr | None = None) -> Token:
        if self.shared is not None and self.shared.writable:
            return self.shared.obtain(rejected, self._spend_once_more)
        secret, _ = self._read(fresh=rejected is not None)
        return self._spend_once_more(secret)[0]

    def _spend_once_more(self, secret: VaultSecret) -> tuple[Token, VaultSecret]:
        """Grant with ``secret``'s credentials; if refused, once more with changed ones."""
        try:
            return self._spend(self._credentials(secret)), secret
        except TokenRejectedError:
            current, creds = self._read(fresh=True)
            if _credentials_of(current) == _credentials_of(secret):
                self._stale = True
                raise
        try:
            return self._spend(creds), current
        except TokenRejectedError:
            self._stale = True
            raise

    def _spend(self, creds: ProcessMakerCredentials) -> Token:
        raise NotImplementedError  # pragma: no cover

    def _post(self, client: Client, body: str, credentials: ProcessMakerCredentials) -> Token:
        secrets = [
            s
            for s in (credentials.client_secret, credentials.password, credentials.refresh_token)
            if s is not None
        ]
        try:
            return self.endpoint.request(client, body, grant=self.name, secrets=secrets)
        except TokenRejectedError as exc:
            raise TokenRejectedError(
                f"{exc} (Vault secret {self.path})", error=exc.error, status_code=exc.status_code
            ) from None


def _credentials_of(secret: VaultSecret) -> dict[str, str]:
    return {k: v.get_secret_value() for k, v in secret.data.items() if k in CREDENTIAL_FIELDS}


class PasswordGrant(_VaultBacked):
    """Resource-owner password grant (``LegacyApplicationClient``).

    Passport reads ``client_id`` from the body, which oauthlib omits unless asked.
    """

    name: GrantName = "password"

    def _spend(self, creds: ProcessMakerCredentials) -> Token:
        client = LegacyApplicationClient(creds.reveal("client_id", self.path))
        body = client.prepare_request_body(
            username=creds.reveal("username", self.path),
            password=creds.reveal("password", self.path),
            include_client_id=True,
            client_secret=creds.reveal("client_secret", self.path),
        )
        return self._post(client, body, creds)


class ClientCredentialsGrant(_VaultBacked):
    """Client-credentials grant. ProcessMaker's API answers 401 to its user-less tokens."""

    name: GrantName = "client_credentials"

    def _spend(self, creds: ProcessMakerCredentials) -> Token:
        logger.warning(
            "Using the client_credentials grant: ProcessMaker's /api/1.0 rejects tokens "
            "without a user (401). Prefer a personal access token or the password grant."
        )
        client = BackendApplicationClient(creds.reveal("client_id", self.path))
        body = client.prepare_request_body(
            include_client_id=True, client_secret=creds.reveal("client_secret", self.path)
        )
        return self._post(client, body, creds)


class PersonalAccessTokenGrant(_VaultBacked):
    """A personal access token stored in Vault, used as the bearer as is."""

    name: GrantName = "pat"

    def __init__(self, vault: VaultSecrets, path: str, endpoint: TokenEndpoint) -> None:
        super().__init__(vault, path, endpoint)
        self._last: str | None = None

    def obtain(self, rejected: SecretStr | None = None) -> Token:
        # Asked again means the last one was refused: look for a rotated PAT in Vault.
        _, creds = self._read(fresh=self._last is not None)
        value = creds.reveal("personal_access_token", self.path)
        if value == self._last:
            raise ProcessMakerAuthError(
                f"ProcessMaker refused the personal access token in Vault secret {self.path} "
                "(revoked or expired): create a new one in ProcessMaker and store it there",
                status_code=401,
            )
        self._last = value
        # Not issued now but whenever someone created it: its JWT exp is the only expiry.
        exp = jwt_claims(value).get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else None
        return Token(SecretStr(value), None, expires_at, self.endpoint.clock())


class RefreshTokenGrant(_VaultBacked):
    """Refresh-token grant, its access token shared and its rotation stored in Vault.

    ProcessMaker (Passport) revokes a refresh token, and the access token issued with it,
    when it is used, and returns new ones. So one process at a time refreshes (the claim of
    :class:`~tasks.auth.shared.SharedToken`), the new refresh token is in Vault before the new
    access token is used, and every process uses that one access token.
    """

    name: GrantName = "refresh_token"

    def __init__(
        self,
        vault: VaultSecrets,
        path: str,
        endpoint: TokenEndpoint,
        *,
        shared: SharedToken | None = None,
    ) -> None:
        # Never without a SharedToken: it is what stores the rotated refresh token.
        shared = shared or SharedToken(
            vault, path, leeway=300.0, rotates=True, clock=endpoint.clock, url=endpoint.url
        )
        super().__init__(vault, path, endpoint, shared=shared)

    def obtain(self, rejected: SecretStr | None = None) -> Token:
        if self.vault.kv_version(self.path) != 2:
            # Checked before refreshing: the refresh spends the stored token, so its
            # successor must be writable with check-and-set or it could be lost.
            raise ConfigurationError(
                f"The refresh_token grant rotates the token in {self.path} with "
                "check-and-set, which needs a KV v2 mount: move the secret to KV v2"
            )
        return super().obtain(rejected)

    def _spend(self, creds: ProcessMakerCredentials) -> Token:
        client_id = creds.reveal("client_id", self.path)
        client = Client(client_id)
        body = client.prepare_refresh_body(
            refresh_token=creds.reveal("refresh_token", self.path),
            client_id=client_id,
            client_secret=creds.reveal("client_secret", self.path),
        )
        token = self._post(client, body, creds)
        if token.refresh_token is None:
            raise TokenRejectedError(
                f"POST {self.endpoint.url} returned no refresh_token for the refresh_token "
                f"grant: the stored one in Vault secret {self.path} is now spent; run "
                "`pm-prefect login`",
                error="missing_refresh_token",
            )
        return token


def make_grant(
    grant: GrantName,
    vault: VaultSecrets,
    path: str,
    endpoint: TokenEndpoint,
    *,
    share: bool = False,
    leeway: float = 300.0,
) -> Grant:
    """The Grant for ``grant`` (PROCESSMAKER_AUTH or inferred).

    The refresh_token grant always shares its token through Vault (it must write there
    anyway); the password and client_credentials grants do when ``share`` (a KV v2 secret the
    policy lets us update: PROCESSMAKER_SHARE_TOKEN). A PAT is its own shared token.
    """
    if grant == "pat":
        return PersonalAccessTokenGrant(vault, path, endpoint)
    rotates = grant == "refresh_token"
    shared = None
    if rotates or (share and vault.kv_version(path) == 2):
        shared = SharedToken(
            vault, path, leeway=leeway, rotates=rotates, clock=endpoint.clock, url=endpoint.url
        )
    classes: dict[GrantName, type[_VaultBacked]] = {
        "password": PasswordGrant,
        "refresh_token": RefreshTokenGrant,
        "client_credentials": ClientCredentialsGrant,
    }
    return classes[grant](vault, path, endpoint, shared=shared)
