"""processmaker-prefect's library: Prefect tasks and the connection block over layers you can
read from the folders.

==================  ===========================================================================
``errors``          the one error taxonomy (bottom: everything may raise these)
``settings``        ``VAULT_*`` and ``PROCESSMAKER_*``, read once
``spec_routes``     ProcessMaker's list routes from its OpenAPI spec (``routes.json``)
``redaction``,      shared leaves: scrubbing secrets, reading times, the process-wide cache,
``times``, ...      the resource catalogue, Prefect form schemas (``forms``), one sync per
                    destination (``destination_locks``)
``vault/``          Vault login methods, the hvac session, KV secrets
``api/``            TLS policy, the retrying transport, paginators, the REST client
``auth/``           credentials, token grants, the token provider, the PKCE login
``destinations/``   DuckDB and PostgreSQL over one SQL layer, rows and watermark in one
                    transaction, request variables as columns, deletion marks
``instance_limits`` a Prefect concurrency limit per ProcessMaker instance, around each call
``sync/``           readers and the engine: what changed, stored with its watermark; reconcile
``connection``      settings -> Vault -> token provider -> client
``blocks``          the ProcessMakerConnection block (``get_client()``)
task modules        ``api_calls``, ``vault_secrets``, ``token_checks``, ``resource_sync``,
                    ``health_checks``: thin Prefect tasks, and the doctor/healthcheck checks
==================  ===========================================================================

A module imports only from layers above it in this table; ``api/`` and ``destinations/``
know nothing of Vault or tokens. The rules are checked by import-linter in ``make lint``
(``.importlinter``). ``flows/`` uses only what this module exports.
"""

from __future__ import annotations

from tasks.api import check_transport, verify_option
from tasks.api_calls import (
    call_processmaker_endpoint,
    complete_processmaker_task,
    list_processmaker_records,
    start_processmaker_request,
)
from tasks.auth import (
    AuthorizationCodeLogin,
    CallbackListener,
    ProcessMakerCredentials,
    TokenEndpoint,
    choose_grant,
    reset_token_providers,
    save_refresh_token,
)
from tasks.blocks import (
    ConnectionParameter,
    ProcessMakerConnection,
    connection_name,
    load_connection,
    resolve_settings,
)
from tasks.catalogue import DEFAULT_RESOURCES, RESOURCE_NAMES, RESOURCES, resource_for
from tasks.connection import open_client
from tasks.destination_locks import destination_lock, destination_lock_name
from tasks.destinations import (
    DEFAULT_URL,
    check_destination_url,
    open_destination,
    redact_userinfo,
)
from tasks.errors import (
    ConfigurationError,
    ProcessMakerAuthError,
    ProcessMakerPrefectError,
    ProcessMakerUnavailableError,
    TokenError,
    VaultError,
)
from tasks.forms import HIDE_NONE
from tasks.health_checks import CheckResult, run_checks
from tasks.instance_limits import instance_limit_name
from tasks.resource_sync import reconcile_resource, sync_resource
from tasks.settings import ProcessMakerSettings, VaultSettings, load_settings
from tasks.sync import progress_listeners
from tasks.token_checks import check_token
from tasks.vault import get_vault, reset_vault_sessions
from tasks.vault_secrets import read_vault_secret

__all__ = [
    "DEFAULT_RESOURCES",
    "DEFAULT_URL",
    "HIDE_NONE",
    "RESOURCES",
    "RESOURCE_NAMES",
    "AuthorizationCodeLogin",
    "CallbackListener",
    "CheckResult",
    "ConfigurationError",
    "ConnectionParameter",
    "ProcessMakerAuthError",
    "ProcessMakerConnection",
    "ProcessMakerCredentials",
    "ProcessMakerPrefectError",
    "ProcessMakerSettings",
    "ProcessMakerUnavailableError",
    "TokenEndpoint",
    "TokenError",
    "VaultError",
    "VaultSettings",
    "call_processmaker_endpoint",
    "check_destination_url",
    "check_token",
    "check_transport",
    "choose_grant",
    "complete_processmaker_task",
    "connection_name",
    "destination_lock",
    "destination_lock_name",
    "get_vault",
    "instance_limit_name",
    "list_processmaker_records",
    "load_connection",
    "load_settings",
    "open_client",
    "open_destination",
    "progress_listeners",
    "read_vault_secret",
    "reconcile_resource",
    "redact_userinfo",
    "reset_token_providers",
    "reset_vault_sessions",
    "resolve_settings",
    "resource_for",
    "run_checks",
    "save_refresh_token",
    "start_processmaker_request",
    "sync_resource",
    "verify_option",
]
