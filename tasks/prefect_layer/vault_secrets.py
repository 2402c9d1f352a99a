"""Prefect tasks over Vault: read the credentials secret and describe it, never its values."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from processmaker_prefect.errors import retry_on_retriable
from processmaker_prefect.vault import get_vault

__all__ = ["read_vault_secret"]


@task(
    name="Read ProcessMaker secret from Vault",
    description="Read the credentials secret and return its path, version and key names only.",
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_on_retriable,
)
def read_vault_secret(path: str, fresh: bool = False) -> dict[str, Any]:
    """Read ``path`` and describe it; values never leave memory (Prefect may pickle results).

    Returns:
        ``{"path", "kv_version", "version", "keys"}``.
    """
    secret = get_vault().read(path, fresh=fresh)
    return {
        "path": secret.path,
        "kv_version": secret.kv_version,
        "version": secret.version,
        "keys": secret.keys(),
    }
