"""Vault: log in (one class per method), keep the token alive, read and write KV secrets."""

from __future__ import annotations

from processmaker_prefect.vault.secrets import (
    VaultSecret,
    VaultSecrets,
    get_vault,
    reset_vault_sessions,
    write_secret,
)

__all__ = ["VaultSecret", "VaultSecrets", "get_vault", "reset_vault_sessions", "write_secret"]
