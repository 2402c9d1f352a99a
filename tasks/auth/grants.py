"""One small class per way of obtaining a ProcessMaker bearer token, behind one interface."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

from oauthlib.oauth2 import BackendApplicationClient, Client, LegacyApplicationClient
from pydantic import SecretStr

from tasks.auth.credentials import ProcessMakerCredentials
from tasks.auth.observed import refresh_token_rotated
from tasks.auth.token_endpoint import Token, TokenEndpoint
from tasks.errors import (
    ConfigurationError,
    ProcessMakerAuthError,
    TokenRejectedError,
    VaultCasConflictError,
)
from tasks.settings import GrantName
from tasks.vault import VaultSecret, VaultSecrets

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
    """Obtains a fresh token. Called by the TokenProvider only, under its lock."""

    name: GrantName

    def obtain(self) -> Token: ...


class _VaultBacked:
    """A grant whose credentials are read from one Vault secret, once per provider."""

    name: GrantName

    def __init__(self, vault: VaultSecrets, path: str, endpoint: TokenEndpoint) -> None:
        self.vault = vault
        self.path = path
        self.endpoint = endpoint

    def _read(self, *, fresh: bool = False) -> tuple[VaultSecret, ProcessMakerCredentials]:
        secret = self.vault.read(self.path, fresh=fresh)
        credentials = ProcessMakerCredentials.from_mapping(secret.data)
        credentials.require(self.name, self.path)
        return secret, credentials

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


class PasswordGrant(_VaultBacked):
    """Resource-owner password grant (``LegacyApplicationClient``).

    Passport reads ``client_id`` from the body, which oauthlib omits unless asked.
    """

    name: GrantName = "password"

    def obtain(self) -> Token:
        _, creds = self._read()
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

    def obtain(self) -> Token:
        logger.warning(
            "Using the client_credentials grant: ProcessMaker's /api/1.0 rejects tokens "
            "without a user (401). Prefer a personal access token or the password grant."
        )
        _, creds = self._read()
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

    def obtain(self) -> Token:
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
        return Token.from_response({"access_token": value})


class RefreshTokenGrant(_VaultBacked):
    """Refresh-token grant with rotation written back to Vault by check-and-set.

    ProcessMaker (Passport) revokes a refresh token when it is used and returns a new one,
    so the new one must be in Vault before the new access token is used, and two runs that
    refresh at once must not lose the newest. The server decides the race: the loser's
    refresh is rejected, and it then finds the winner's token in Vault and tries again with
    it. Each round has one winner, so ``attempts`` bounds how many runs may refresh at once.
    """

    name: GrantName = "refresh_token"

    def __init__(
        self,
        vault: VaultSecrets,
        path: str,
        endpoint: TokenEndpoint,
        *,
        attempts: int = 10,
        wait: float = 0.5,
    ) -> None:
        super().__init__(vault, path, endpoint)
        self._attempts = attempts
        self._wait = wait

    def obtain(self) -> Token:
        secret, creds = self._read(fresh=True)
        if secret.kv_version != 2:
            # Checked before refreshing: the refresh spends the stored token, so its
            # successor must be writable with check-and-set or it could be lost.
            raise ConfigurationError(
                f"The refresh_token grant rotates the token in {self.path} with "
                "check-and-set, which needs a KV v2 mount: move the secret to KV v2"
            )
        for attempt in range(self._attempts):
            try:
                token = self._refresh(creds)
            except TokenRejectedError:
                newer = self._wait_for_newer(secret)
                if newer is None or attempt == self._attempts - 1:
                    raise
                secret, creds = newer
                continue
            self._store(secret, creds, token)
            return token
        raise AssertionError("unreachable")  # pragma: no cover

    def _refresh(self, creds: ProcessMakerCredentials) -> Token:
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

    def _wait_for_newer(
        self, seen: VaultSecret
    ) -> tuple[VaultSecret, ProcessMakerCredentials] | None:
        """After a rejection: another run may have rotated first and be writing to Vault."""
        for _ in range(6):
            secret, creds = self._read(fresh=True)
            if secret.version != seen.version and creds.refresh_token != seen.data.get(
                "refresh_token"
            ):
                return secret, creds
            time.sleep(self._wait * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not crypto
        return None

    def _store(self, secret: VaultSecret, creds: ProcessMakerCredentials, token: Token) -> None:
        """Write the rotated refresh token with cas = the version it came from."""
        while True:
            data: dict[str, str | SecretStr] = dict(secret.data)
            data["refresh_token"] = token.refresh_token or SecretStr("")
            try:
                version = self.vault.write(self.path, data, cas=secret.version)
                refresh_token_rotated(self.endpoint.url, self.path, version)
                self.vault.invalidate(self.path)
                return
            except VaultCasConflictError:
                current, current_creds = self._read(fresh=True)
                if current_creds.refresh_token != creds.refresh_token:
                    # Someone stored a newer refresh token: theirs stays; ours is valid but
                    # unneeded beyond this run.
                    return
                secret = current  # only other keys changed: write ours on top of them


def make_grant(grant: GrantName, vault: VaultSecrets, path: str, endpoint: TokenEndpoint) -> Grant:
    """The Grant for ``grant`` (PROCESSMAKER_AUTH or inferred)."""
    classes: dict[GrantName, Callable[[VaultSecrets, str, TokenEndpoint], Grant]] = {
        "password": PasswordGrant,
        "pat": PersonalAccessTokenGrant,
        "refresh_token": RefreshTokenGrant,
        "client_credentials": ClientCredentialsGrant,
    }
    return classes[grant](vault, path, endpoint)
