"""One access token for every process, kept next to the credentials in the Vault secret.

Prefect runs each flow run in a process of its own, so a sync, a healthcheck and an operator's
run overlap. If each obtained its own token, refresh-token rotation would make them revoke each
other (Passport revokes the access token issued with a refresh token when that refresh token
is used) and every run would add a row to ``oauth_access_tokens``. Instead:

1. a process that needs a token re-reads the secret (no cache) and uses the access token
   there if it is still valid and is not the one that just got a 401;
2. otherwise it *claims* the renewal with a check-and-set write (``access_token_renewing_until``);
   a process that loses the check-and-set, or finds a live claim, waits for the winner's token;
3. the winner makes the one grant and writes the new access token (and rotated refresh token)
   with check-and-set against its claim, which also removes the claim. A claim whose holder
   died expires after ``claim_ttl`` seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import random
import time
from collections.abc import Callable

from pydantic import SecretStr

from processmaker_prefect.auth.observed import refresh_token_rotated
from processmaker_prefect.auth.token import SHARED_KEYS, Clock, Token
from processmaker_prefect.errors import (
    ProcessMakerPrefectError,
    RefreshTokenNotSavedError,
    VaultAuthError,
    VaultCasConflictError,
    VaultError,
    VaultUnavailableError,
)
from processmaker_prefect.vault import VaultSecret, VaultSecrets

__all__ = ["CLAIM_KEY", "SharedToken"]

logger = logging.getLogger(__name__)

CLAIM_KEY = "access_token_renewing_until"
Spend = Callable[[VaultSecret], tuple[Token, VaultSecret]]


class SharedToken:
    """The shared token of one Vault secret (KV v2): read, claim, publish.

    Args:
        vault: The process's Vault client.
        path: The secret, ``mount/path``.
        leeway: A shared token this close to expiry is renewed instead of used.
        rotates: Whether the grant spends a refresh token (then losing the write is fatal).
        clock: Wall-clock seconds; the same clock stamps the tokens.
        claim_ttl: Seconds a claim holds before others may take over (a dead holder).
        write_attempts: Tries of the final write while Vault is unavailable.
        write_backoff: Seconds before the second write try, doubled for each further one.
        url: ProcessMaker's base URL, named by the ``refresh_token.rotated`` event.
    """

    def __init__(
        self,
        vault: VaultSecrets,
        path: str,
        *,
        leeway: float,
        rotates: bool,
        clock: Clock = time.time,
        claim_ttl: float = 60.0,
        write_attempts: int = 6,
        write_backoff: float = 1.0,
        url: str | None = None,
    ) -> None:
        self.vault, self.path, self.leeway, self.rotates = vault, path, leeway, rotates
        self.url = url  # ProcessMaker's, for the rotation event
        self.clock = clock
        self.claim_ttl = claim_ttl
        self.write_attempts = max(1, write_attempts)
        self.write_backoff = write_backoff
        self.unsaved: tuple[VaultSecret, Token] | None = None  # a rotation Vault did not take
        self.writable = True  # False once the policy refused a write: stop sharing

    def usable(self, token: Token | None, rejected: SecretStr | None) -> Token | None:
        """``token`` if it may be used now: valid for longer than the leeway, not refused."""
        if token is None or token.due_for_renewal(self.leeway, self.clock()):
            return None
        return None if rejected is not None and token.access_token == rejected else token

    def obtain(self, rejected: SecretStr | None, spend: Spend) -> Token:
        """The shared token, or a new one from ``spend`` made by this process alone.

        Raises:
            RefreshTokenNotSavedError: ``spend`` rotated the refresh token and Vault did not
                take the new one; ``self.unsaved`` holds it for the rest of the run.
            VaultAuthError: the policy does not allow the claim; nothing was spent.
        """
        self._flush_unsaved()
        while True:
            secret = self.vault.read(self.path, fresh=True)
            token = self.usable(Token.from_shared(secret.data), rejected)
            if token is not None:
                return token
            if self._claimed_by_other(secret):
                time.sleep(random.uniform(0.1, 0.3))  # noqa: S311 - jitter, not crypto
                continue
            try:
                claimed = self._write(secret, {CLAIM_KEY: repr(self.clock() + self.claim_ttl)})
            except VaultCasConflictError:
                continue  # another process claimed or published first: look again
            except VaultAuthError as exc:
                return self._unwritable(secret, spend, exc)
            try:
                token, used = spend(claimed)
            except BaseException:
                self._release(claimed)
                raise
            self._publish(used, token)
            return token

    def _unwritable(self, secret: VaultSecret, spend: Spend, exc: VaultAuthError) -> Token:
        """The policy forbids writing the secret: found out by the claim, before any grant."""
        if self.rotates:
            raise VaultAuthError(
                f"{exc}; the refresh_token grant must store each rotated refresh token there, "
                "so nothing was spent"
            ) from exc
        logger.warning("Not sharing the access token: %s", exc)
        self.writable = False
        return spend(secret)[0]

    def _claimed_by_other(self, secret: VaultSecret) -> bool:
        raw = secret.data.get(CLAIM_KEY)
        try:
            until = float(raw.get_secret_value()) if raw is not None else 0.0
        except ValueError:
            return False
        return until > self.clock()

    def _write(
        self, secret: VaultSecret, changes: dict[str, str | SecretStr], *, drop_claim: bool = False
    ) -> VaultSecret:
        """CAS-write ``secret`` plus ``changes``; the VaultSecret that is now stored."""
        data: dict[str, str | SecretStr] = {
            k: v for k, v in secret.data.items() if not (drop_claim and k == CLAIM_KEY)
        }
        data.update(changes)
        version = self.vault.write(self.path, data, cas=secret.version)
        stored = {k: v if isinstance(v, SecretStr) else SecretStr(v) for k, v in data.items()}
        return VaultSecret(secret.path, version, secret.kv_version, stored)

    def _release(self, claimed: VaultSecret) -> None:
        """Drop our claim after a failed grant, so others need not wait for it to expire."""
        with contextlib.suppress(VaultError):  # else it expires by itself
            self._write(claimed, {}, drop_claim=True)

    def _publish(self, secret: VaultSecret, token: Token) -> None:
        """Store ``token`` (and its refresh token) with CAS; retried harder than a read."""
        changes = token.shared_fields()
        if token.refresh_token is not None:
            changes["refresh_token"] = token.refresh_token
            changes["refresh_token_issued_at"] = repr(token.obtained_at)
        for attempt in range(1, self.write_attempts + 1):
            try:
                stored = self._write(secret, changes, drop_claim=True)
                self.vault.invalidate(self.path)
                if token.refresh_token is not None and self.url is not None:
                    refresh_token_rotated(self.url, self.path, stored.version)
                return
            except VaultCasConflictError:
                current = self.vault.read(self.path, fresh=True)
                if self.rotates and current.data.get("refresh_token") != secret.data.get(
                    "refresh_token"
                ):
                    return  # someone stored another refresh token (a login): theirs stays
                secret = current  # only other keys changed: ours goes on top of them
            except (VaultUnavailableError, VaultAuthError) as exc:
                if isinstance(exc, VaultAuthError) or attempt == self.write_attempts:
                    self._fail(secret, token, exc)
                    return
                time.sleep(self.write_backoff * 2 ** (attempt - 1))

    def _fail(self, secret: VaultSecret, token: Token, exc: VaultError) -> None:
        if not self.rotates:
            # Nothing is lost: this process keeps its token, the others make their own.
            logger.warning("Could not share the new access token in %s: %s", self.path, exc)
            return
        if self.unsaved is None:
            atexit.register(self._store_at_exit)
        self.unsaved = (secret, token)
        raise RefreshTokenNotSavedError(
            f"ProcessMaker rotated the refresh token but Vault secret {self.path} did not take "
            f"the new one ({type(exc).__name__}): the stored refresh token is spent; run "
            "`pm-prefect login` (this run keeps the new token until it ends)"
        ) from exc

    def _flush_unsaved(self) -> None:
        """Try again to store a rotation that Vault refused earlier in this run."""
        if self.unsaved is None:
            return
        secret, token = self.unsaved
        self.unsaved = None
        try:
            current = self.vault.read(self.path, fresh=True)
        except VaultError:
            self.unsaved = (secret, token)
            return
        if current.data.get("refresh_token") == secret.data.get("refresh_token"):
            self._publish(current, token)  # else a login stored a newer one: it stays

    def _store_at_exit(self) -> None:
        """A last try as the process ends: Vault may be back, and then nothing is lost."""
        self.write_attempts = 1
        with contextlib.suppress(ProcessMakerPrefectError):
            self._flush_unsaved()

    @staticmethod
    def strip(data: dict[str, str | SecretStr]) -> dict[str, str | SecretStr]:
        """``data`` without a shared token or claim (e.g. when a login stores new credentials)."""
        return {k: v for k, v in data.items() if k not in (*SHARED_KEYS, CLAIM_KEY)}
