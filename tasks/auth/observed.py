"""Token events around a grant: obtained, refused, rotated; once per event, not per call.

:class:`ObservedGrant` wraps the grant a :class:`~tasks.auth.provider.TokenProvider` holds, so
the provider (which grants once for all threads) reports each grant once. A token the API
refuses is reported by :func:`observe_api_refusal`, keyed by that token: the many threads
that saw the same 401 make one event.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from processmaker_prefect.errors import TokenRejectedError
from processmaker_prefect.events import emit, instance_resource, iso, secret_resource
from processmaker_prefect.settings import GrantName

if TYPE_CHECKING:
    from processmaker_prefect.auth.token_endpoint import Token

__all__ = ["ObservedGrant", "observe_api_refusal", "refresh_token_rotated"]


class ObservedGrant:
    """A grant that emits ``processmaker.token.obtained`` / ``.refused`` around ``obtain``.

    Args:
        grant: The grant doing the work (any ``Grant``); other attributes pass through.
        url: ProcessMaker's base URL.
        path: The Vault secret holding the credentials.
        vault_addr: The Vault address.
        block: The ProcessMaker Connection block the settings came from, if any.
    """

    def __init__(
        self, grant: Any, url: str, path: str, vault_addr: str, block: str | None = None
    ) -> None:
        self.inner = grant
        self.name: GrantName = grant.name
        self.url = url
        self.block = block
        self.path = path
        self.vault_addr = vault_addr

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def _related(self) -> list[dict[str, str]]:
        return [secret_resource(self.path, self.vault_addr)]

    def obtain(self, *args: Any, **kwargs: Any) -> Token:
        try:
            token: Token = self.inner.obtain(*args, **kwargs)
        except TokenRejectedError as exc:
            self.refused(exc.error or "rejected", getattr(exc, "status_code", None))
            raise
        left = None if token.expires_at is None else token.expires_at - time.time()
        emit(
            "processmaker.token.obtained",
            instance_resource(self.url, self.block, **{"processmaker.grant": self.name}),
            related=self._related(),
            payload={
                "grant": self.name,
                # "vault": picked up from another process's grant, no request to the endpoint
                "source": "vault" if token.from_vault else "grant",
                "expires_at": iso(token.expires_at),
                "expires_in_days": None if left is None else round(left / 86400, 2),
            },
        )
        return token

    def refused(self, cause: str, status: int | None, token: SecretStr | None = None) -> None:
        """Emit ``processmaker.token.refused`` once per refused token (or grant error)."""
        key: tuple[str, ...] = (self.url, self.path, cause)
        if token is not None:
            # Keyed by a digest, so the dedup table holds no token either.
            key += (hashlib.sha256(token.get_secret_value().encode()).hexdigest(),)
        emit(
            "processmaker.token.refused",
            instance_resource(self.url, self.block, **{"processmaker.grant": self.name}),
            related=self._related(),
            payload={"grant": self.name, "cause": cause, "status": status},
            once=key,
            window=None if token is not None else 300.0,
        )


def observe_api_refusal(grant: Any, token: SecretStr) -> None:
    """ProcessMaker's API answered 401 to ``token``: one event per token, for all threads."""
    if isinstance(grant, ObservedGrant):
        grant.refused("unauthenticated", 401, token)


def refresh_token_rotated(url: str, path: str, version: int | None) -> None:
    """A rotated refresh token is stored in Vault as ``version`` (``url``: the instance or
    its token endpoint)."""
    emit(
        "processmaker.refresh_token.rotated",
        instance_resource(
            url.removesuffix("/oauth/token"), **{"processmaker.grant": "refresh_token"}
        ),
        related=[secret_resource(path)],
        payload={"vault_version": version},
    )
