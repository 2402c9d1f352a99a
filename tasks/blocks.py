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

from tasks.api import ProcessMakerClient
from tasks.connection import open_client
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
        """The block's fields over the environment's, as the two settings objects.

        A field named like a ``ProcessMakerSettings`` field overrides it; ``vault_<name>``
        overrides ``VaultSettings.<name>``. Unset fields fall back to the environment.
        """
        pm: dict[str, Any] = {}
        vault: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if name in ProcessMakerSettings.model_fields:
                pm[name] = value
            elif name.removeprefix("vault_") in VaultSettings.model_fields:
                vault[name.removeprefix("vault_")] = value
        return load_settings(ProcessMakerSettings, **pm), load_settings(VaultSettings, **vault)

    def get_client(self) -> ProcessMakerClient:
        """A ProcessMaker API client for this connection, authenticated through Vault.

        Use it as a context manager. The Vault login, the grant and the pooled HTTP session
        are shared by every client of the same settings in this process.

        Example:
            ```python
            from tasks import ProcessMakerConnection

            with ProcessMakerConnection.load("prod").get_client() as client:
                open_requests = client.get("/requests", params={"status": "ACTIVE"})
            ```
        """
        return open_client(*self.settings())


def resolve_settings(block_name: str | None) -> tuple[ProcessMakerSettings, VaultSettings]:
    """Settings from the named block over the environment, or from the environment alone."""
    if block_name:
        block = ProcessMakerConnection.load(block_name)
        return block.settings()  # type: ignore[no-any-return, union-attr]
    return load_settings(ProcessMakerSettings), load_settings(VaultSettings)
