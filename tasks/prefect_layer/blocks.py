"""A Prefect block for a ProcessMaker connection, editable in the UI and picked in flow forms.

Prefect registers it on its own: the package's ``prefect.collections`` entry point names this
module (``prefect block register -m processmaker_prefect.prefect_layer.blocks`` does it by
hand). Only the URL is required (which
also lets Prefect's block picker validate a flow form). Every other empty field falls back to
the worker's environment (``PROCESSMAKER_*``, ``VAULT_*``), so a block can name the instance
and its Vault secret while the Vault login still comes from the worker. Titles and
descriptions come from :mod:`settings`, so the form and the environment say the same.
The block holds no secret unless an operator puts a Vault token or AppRole secret id in its
masked fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from pydantic import BeforeValidator, Field, SecretStr

from processmaker_prefect.api import ProcessMakerClient
from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.prefect_layer.forms import HIDE_NONE
from processmaker_prefect.settings import (
    GrantName,
    ProcessMakerSettings,
    VaultAuthMethod,
    VaultSettings,
    env_name,
    load_settings,
)

__all__ = [
    "ConnectionParameter",
    "ProcessMakerConnection",
    "ResolvedConnection",
    "connection_name",
    "load_connection",
    "resolve_connection",
    "resolve_settings",
    "saved_connection_names",
]

SLUG = "processmaker-connection"
# Where the block is documented, and its logo in Prefect's block catalogue (ProcessMaker's
# GitHub avatar: a square PNG that GitHub serves for any organisation at this address).
DOCS_URL = "https://processmaker-prefect.readthedocs.io/en/latest/pages/deploy/"
LOGO_URL = "https://github.com/ProcessMaker.png"


def _about(name: str, *, vault: bool = False, always: bool = False) -> str:
    """The settings field's description, plus where an empty field comes from."""
    fields = VaultSettings.model_fields if vault else ProcessMakerSettings.model_fields
    description = fields[name].description or ""
    if always:
        return f"{description} The block's own value, whatever the worker's environment says."
    env = f"{'VAULT' if vault else 'PROCESSMAKER'}_{name.upper()}"
    default = None if fields[name].is_required() else fields[name].default
    fallback = f", else {default}" if default is not None else ""
    return f"{description} Empty: the worker's {env}{fallback}."


def _pm(name: str, title: str, **constraints: Any) -> Any:
    # Prefect's block page shows an empty field as "None": the title says what that means.
    title = f"{title} (empty: {env_name(ProcessMakerSettings, name)})"
    return Field(None, title=title, description=_about(name), **constraints)


def _vault(name: str, title: str) -> Any:
    title = f"{title} (empty: {env_name(VaultSettings, name)})"
    return Field(None, title=title, description=_about(name, vault=True))


class ProcessMakerConnection(Block):
    """Where a ProcessMaker instance is, where its credentials live in Vault, how to call it.

    Example:
        ```python
        from processmaker_prefect import ProcessMakerConnection

        with ProcessMakerConnection.load("BLOCK_NAME").get_client() as client:
            active = client.get("/requests", params={"status": "ACTIVE"})
        ```
    """

    _block_type_name = "ProcessMaker Connection"
    _block_type_slug = SLUG
    _documentation_url = DOCS_URL  # type: ignore[assignment]  # pydantic's HttpUrl takes a str
    _logo_url = LOGO_URL  # type: ignore[assignment]
    _description = (
        "A ProcessMaker 4 instance and the Vault secret holding its credentials. Only the URL "
        "is required: every empty field falls back to the worker's environment "
        "(PROCESSMAKER_*, VAULT_*). Pick the block in a flow's `connection` parameter."
    )
    _code_example = """
Pick this block in the `connection` field of a processmaker-* deployment's run form, or in
Python:

```python
from processmaker_prefect import ProcessMakerConnection

connection = ProcessMakerConnection.load("BLOCK_NAME")
with connection.get_client() as client:
    user = client.get_user(1)
```

From the command line: `pm-prefect sync --connection BLOCK_NAME`.
"""

    url: str = Field(
        ...,
        min_length=1,
        title="ProcessMaker URL",
        description=ProcessMakerSettings.model_fields["url"].description,
    )
    secret: Annotated[str | None, HIDE_NONE] = _pm("secret", "Vault secret")
    auth: Annotated[GrantName | None, HIDE_NONE] = _pm("auth", "Grant")
    verify_tls: bool = Field(
        True, title="Verify TLS certificate", description=_about("verify_tls", always=True)
    )
    ca_bundle: Annotated[str | None, HIDE_NONE] = _pm("ca_bundle", "CA bundle (path on the worker)")
    allow_insecure_http: bool = Field(
        False,
        title="Allow plain http:// to a remote host",
        description=_about("allow_insecure_http", always=True),
    )
    timeout: Annotated[float | None, HIDE_NONE] = _pm("timeout", "Timeout (seconds)", gt=0, le=600)
    page_size: Annotated[int | None, HIDE_NONE] = _pm("page_size", "Page size", ge=1, le=1000)
    max_concurrency: Annotated[int | None, HIDE_NONE] = _pm(
        "max_concurrency", "Pages fetched at once", ge=1, le=32
    )

    vault_addr: Annotated[str | None, HIDE_NONE] = _vault("addr", "Vault address")
    vault_namespace: Annotated[str | None, HIDE_NONE] = _vault("namespace", "Vault namespace")
    vault_cacert: Annotated[str | None, HIDE_NONE] = _vault("cacert", "Vault CA bundle")
    vault_auth_method: Annotated[VaultAuthMethod | None, HIDE_NONE] = _vault(
        "auth_method", "Vault login method"
    )
    vault_auth_mount: Annotated[str | None, HIDE_NONE] = _vault("auth_mount", "Vault auth mount")
    vault_role: Annotated[str | None, HIDE_NONE] = _vault("role", "Vault role")
    vault_role_id: Annotated[str | None, HIDE_NONE] = _vault("role_id", "Vault AppRole role id")
    vault_secret_id: Annotated[SecretStr | None, HIDE_NONE] = _vault(
        "secret_id", "Vault AppRole secret id"
    )
    vault_token: Annotated[SecretStr | None, HIDE_NONE] = _vault("token", "Vault token")

    def settings(self) -> tuple[ProcessMakerSettings, VaultSettings]:
        """The block's fields over the environment's, as the two settings objects.

        A field named like a ``ProcessMakerSettings`` field overrides it; ``vault_<name>``
        overrides ``VaultSettings.<name>``. Empty fields fall back to the environment.
        """
        pm: dict[str, Any] = {}
        vault: dict[str, Any] = {}
        pm_offers: list[str] = []
        vault_offers: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in ProcessMakerSettings.model_fields:
                offers, values, field = pm_offers, pm, name
            elif name.removeprefix("vault_") in VaultSettings.model_fields:
                offers, values, field = vault_offers, vault, name.removeprefix("vault_")
            else:
                continue
            offers.append(field)
            if value is not None:
                values[field] = value
        # Errors about these settings name the block's fields, not the worker's variables.
        block = self._block_document_name or "(unsaved)"
        settings = load_settings(ProcessMakerSettings, block=block, offers=pm_offers, **pm)
        vault_settings = load_settings(VaultSettings, block=block, offers=vault_offers, **vault)
        vault_settings._secret_named = settings.name_of("secret")
        return settings, vault_settings

    def get_client(self) -> ProcessMakerClient:
        """A ProcessMaker API client for this connection, authenticated through Vault.

        Use it as a context manager. The Vault login, the grant and the pooled HTTP session
        are shared by every client of the same settings in this process.

        Example:
            ```python
            from processmaker_prefect import ProcessMakerConnection

            with ProcessMakerConnection.load("prod").get_client() as client:
                open_requests = client.get("/requests", params={"status": "ACTIVE"})
            ```
        """
        return open_client(*self.settings())


def load_connection(name: str) -> ProcessMakerConnection:
    """The saved block ``name``.

    Raises:
        ConfigurationError: no such block; the message lists the blocks that exist.
    """
    try:
        block: ProcessMakerConnection = ProcessMakerConnection.load(name)  # type: ignore[assignment]
    except ValueError:
        raise ConfigurationError(
            f"No ProcessMaker Connection block named {name!r}; {_existing()}"
        ) from None
    return block


def saved_connection_names() -> list[str]:
    """The names of every saved ProcessMaker Connection block, sorted (none: empty)."""
    try:
        with get_client(sync_client=True) as client:
            return sorted(d.name for d in client.read_block_documents_by_type(SLUG) if d.name)
    except ObjectNotFound:  # the block type is not even registered
        return []


def _existing() -> str:
    names = saved_connection_names()
    if not names:
        return "none exist yet: create one in the Prefect UI (Blocks) or in Python"
    return f"use one of: {', '.join(names)}"


def _by_name(value: Any) -> Any:
    """A flow parameter given as a block's name (CLI, API) becomes the saved block."""
    if isinstance(value, str):
        return load_connection(value) if value.strip() else None
    return value


#: A flow's ``connection`` parameter: a block picker in the UI (Prefect stores only a
#: reference), a block's name from the CLI or API, or nothing for the worker's environment.
ConnectionParameter = Annotated[ProcessMakerConnection | None, HIDE_NONE, BeforeValidator(_by_name)]


def connection_name(connection: ProcessMakerConnection | str | None) -> str | None:
    """The saved name of ``connection`` for task parameters (tasks take names, not blocks).

    Raises:
        ConfigurationError: the block was never saved, so a task could not load it.
    """
    if connection is None or isinstance(connection, str):
        return connection or None
    name = connection._block_document_name
    if name is None:
        raise ConfigurationError(
            "The ProcessMaker Connection block has no name: save it with .save('NAME') "
            "and pass it (or its name) as the connection"
        )
    return name


@dataclass(frozen=True)
class ResolvedConnection:
    """A run's connection, resolved once: the block (or the environment) turned into settings.

    A flow resolves it before its first task and hands it to every task, so a sync of N
    resources loads the block once instead of once per task. Tasks of a flow run are threads
    of its process: the object is passed by reference and never persisted (NO_CACHE tasks, no
    result). ``ProcessMakerSettings`` holds no secret; ``VaultSettings`` may hold the Vault
    login (a token, an AppRole secret id), masked in every repr and JSON dump, and pickling
    is refused, so it cannot leave the process either.

    Attributes:
        name: The block's saved name (None: the environment, or an unsaved block).
        settings: Where ProcessMaker is and how to call it.
        vault_settings: Where Vault is and how to log in.
    """

    name: str | None
    settings: ProcessMakerSettings
    vault_settings: VaultSettings

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "A ResolvedConnection stays in its process (it may hold the Vault login): pass "
            "the block's name to work in another process"
        )


def resolve_connection(
    connection: ProcessMakerConnection | ResolvedConnection | str | None,
) -> ResolvedConnection:
    """The block (or the block of that name, or the environment) as settings, once.

    Raises:
        ConfigurationError: no block of that name, or a required setting is missing.
    """
    if isinstance(connection, ResolvedConnection):
        return connection
    if isinstance(connection, str) and connection:
        connection = load_connection(connection)
    if isinstance(connection, ProcessMakerConnection):
        return ResolvedConnection(connection._block_document_name, *connection.settings())
    return ResolvedConnection(
        None, load_settings(ProcessMakerSettings), load_settings(VaultSettings)
    )


def resolve_settings(
    connection: ProcessMakerConnection | ResolvedConnection | str | None,
) -> tuple[ProcessMakerSettings, VaultSettings]:
    """Settings from the block (or the block of that name) over the environment, or from the
    environment alone."""
    resolved = resolve_connection(connection)
    return resolved.settings, resolved.vault_settings
