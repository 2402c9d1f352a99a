"""A Prefect block for a ProcessMaker connection, editable in the UI.

Register it with ``prefect block register -m tasks.blocks``. Every field is optional: an
unset field falls back to the environment (``PROCESSMAKER_*``, ``VAULT_*``), so a block
can override just the instance URL while Vault login still comes from the worker's
environment. The block holds no secret unless an operator chooses to put a Vault token
or AppRole secret id in its ``SecretStr`` fields.
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from tasks.settings import (
    GrantName,
    ProcessMakerSettings,
    VaultAuthMethod,
    VaultSettings,
    load_settings,
)

__all__ = ["ProcessMakerConnection", "resolve_settings"]


class ProcessMakerConnection(Block):
    """Where a ProcessMaker instance is, where its credentials live in Vault, how to call it.

    Example:
        ```python
        from tasks.blocks import ProcessMakerConnection
        ProcessMakerConnection(url="https://pm.example.com",
                               secret="secret/processmaker/prod").save("prod")
        ```
    """

    _block_type_name = "ProcessMaker Connection"
    _block_type_slug = "processmaker-connection"
    _description = "ProcessMaker 4 instance, its Vault secret, TLS and paging settings."

    url: str | None = Field(
        None, title="ProcessMaker URL", description="e.g. https://pm.example.com"
    )
    secret: str | None = Field(
        None, title="Vault secret", description="mount/path of the credentials in Vault"
    )
    auth: GrantName | None = Field(
        None, title="Grant", description="Unset: inferred from the keys in the secret."
    )
    allow_insecure_http: bool | None = Field(None, description="Allow http:// to remote hosts.")
    ca_bundle: str | None = Field(None, description="CA bundle path for ProcessMaker's TLS.")
    verify_tls: bool | None = Field(None, description="Verify ProcessMaker's TLS certificate.")
    timeout: float | None = Field(None, gt=0, le=600, description="Seconds per HTTP call.")
    page_size: int | None = Field(None, ge=1, le=1000, description="Records per page.")
    max_concurrency: int | None = Field(None, ge=1, le=32, description="Pages fetched at once.")

    vault_addr: str | None = Field(None, title="Vault address")
    vault_namespace: str | None = Field(None, title="Vault namespace")
    vault_cacert: str | None = Field(None, title="Vault CA bundle path")
    vault_auth_method: VaultAuthMethod | None = Field(None, title="Vault login method")
    vault_auth_mount: str | None = Field(None, title="Vault auth mount")
    vault_role: str | None = Field(None, title="Vault role (kubernetes, jwt)")
    vault_role_id: str | None = Field(None, title="Vault AppRole role id")
    vault_secret_id: SecretStr | None = Field(None, title="Vault AppRole secret id")
    vault_token: SecretStr | None = Field(None, title="Vault token")

    def settings(self) -> tuple[ProcessMakerSettings, VaultSettings]:
        """The block's fields over the environment's, as the two settings objects."""
        pm: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "url",
                "secret",
                "auth",
                "allow_insecure_http",
                "ca_bundle",
                "verify_tls",
                "timeout",
                "page_size",
                "max_concurrency",
            )
            if getattr(self, name) is not None
        }
        vault: dict[str, Any] = {
            name.removeprefix("vault_"): getattr(self, name)
            for name in (
                "vault_addr",
                "vault_namespace",
                "vault_cacert",
                "vault_auth_method",
                "vault_auth_mount",
                "vault_role",
                "vault_role_id",
                "vault_secret_id",
                "vault_token",
            )
            if getattr(self, name) is not None
        }
        return load_settings(ProcessMakerSettings, **pm), load_settings(VaultSettings, **vault)


def resolve_settings(block_name: str | None) -> tuple[ProcessMakerSettings, VaultSettings]:
    """Settings from the named block over the environment, or from the environment alone."""
    if block_name:
        block = ProcessMakerConnection.load(block_name)
        return block.settings()  # type: ignore[no-any-return, union-attr]
    return load_settings(ProcessMakerSettings), load_settings(VaultSettings)
