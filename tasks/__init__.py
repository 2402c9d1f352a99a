"""processmaker-prefect: Prefect 3 tasks, flows and a connection block for ProcessMaker 4,
with credentials from HashiCorp Vault. Installed as one package, ``processmaker_prefect``.

The library is in layers you can read from the folders (the repository's ``tasks/`` is this
package; ``flows/`` is :mod:`processmaker_prefect.flows`, ``sandbox/`` is
:mod:`processmaker_prefect.sandbox`):

==================  ===========================================================================
``errors``          the one error taxonomy (bottom: everything may raise these)
``settings``        ``VAULT_*`` and ``PROCESSMAKER_*``, read once
``spec_routes``     ProcessMaker's list routes from its OpenAPI spec (``routes.json``)
``redaction``,      shared leaves: scrubbing secrets, reading times, the process-wide cache,
``times``, ...      the resource catalogue, the event grammar and its plain hook (``events``)
``vault/``          Vault login methods, the hvac session, KV secrets
``api/``            TLS policy, the retrying transport, paginators, the REST client
``auth/``           credentials, token grants, the token provider, the PKCE login
``destinations/``   DuckDB and PostgreSQL over one SQL layer, rows and watermark in one
                    transaction, request variables as columns, deletion marks
``sync/``           readers and the engine: what changed, stored with its watermark; reconcile
``health_checks``   the doctor/healthcheck checks
``prefect_layer/``  the only layer that imports Prefect: the ``@task``s, the
                    ProcessMakerConnection block, the event sink, destination locks, instance
                    limits, form schemas, and the connection wiring
==================  ===========================================================================

A module imports only from layers above it in this table; ``api/`` and ``destinations/``
know nothing of Vault or tokens; only ``prefect_layer/`` imports Prefect. The rules are
import-linter contracts (``.importlinter``, run by ``make lint``). ``flows/`` uses only what
this module exports.

Importing this package is cheap: each name below is imported on first use (PEP 562), so the
command line answers ``--help`` without loading Prefect, and the sandbox without the library.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    # The one source of the version is pyproject.toml; the installed metadata carries it.
    __version__ = version("processmaker-prefect")
except PackageNotFoundError:  # run from a copy that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from processmaker_prefect.api import check_transport, verify_option
    from processmaker_prefect.auth import (
        AuthorizationCodeLogin,
        CallbackListener,
        ProcessMakerCredentials,
        TokenEndpoint,
        choose_grant,
        reset_token_providers,
        save_refresh_token,
    )
    from processmaker_prefect.catalogue import (
        DEFAULT_RESOURCES,
        OFFERED_RESOURCES,
        RESOURCE_NAMES,
        RESOURCES,
        resource_for,
    )
    from processmaker_prefect.destinations import (
        DEFAULT_URL,
        StartedRequests,
        check_destination_url,
        default_destination,
        open_destination,
        redact_userinfo,
    )
    from processmaker_prefect.errors import (
        ConfigurationError,
        OutcomeUnknownError,
        ProcessMakerAuthError,
        ProcessMakerPrefectError,
        ProcessMakerUnavailableError,
        TokenError,
        VaultError,
    )
    from processmaker_prefect.health_checks import CheckResult, run_checks
    from processmaker_prefect.prefect_layer.api_calls import (
        call_processmaker_endpoint,
        complete_processmaker_task,
        list_processmaker_records,
        start_processmaker_request,
    )
    from processmaker_prefect.prefect_layer.blocks import (
        ConnectionParameter,
        ProcessMakerConnection,
        ResolvedConnection,
        connection_name,
        load_connection,
        resolve_connection,
        resolve_settings,
        saved_connection_names,
    )
    from processmaker_prefect.prefect_layer.connection import open_client
    from processmaker_prefect.prefect_layer.destination_locks import (
        destination_lock,
        destination_lock_name,
    )
    from processmaker_prefect.prefect_layer.event_sink import install_event_sink
    from processmaker_prefect.prefect_layer.forms import HIDE_NONE, NONE_IS_EMPTY
    from processmaker_prefect.prefect_layer.instance_limits import instance_limit_name
    from processmaker_prefect.prefect_layer.resource_sync import reconcile_resource, sync_resource
    from processmaker_prefect.prefect_layer.task_review import (
        apply_processmaker_task_action,
        list_open_processmaker_tasks,
    )
    from processmaker_prefect.prefect_layer.token_checks import check_token
    from processmaker_prefect.prefect_layer.vault_secrets import read_vault_secret
    from processmaker_prefect.settings import ProcessMakerSettings, VaultSettings, load_settings
    from processmaker_prefect.sync import progress_listeners
    from processmaker_prefect.url_credentials import (
        NO_PASSWORD_PATTERN,
        DestinationURL,
        password_in_url,
        refuse_password_in_url,
    )
    from processmaker_prefect.vault import get_vault, reset_vault_sessions

_EXPORTS: dict[str, str] = {
    "OutcomeUnknownError": "processmaker_prefect.errors",
    "StartedRequests": "processmaker_prefect.destinations",
    "apply_processmaker_task_action": "processmaker_prefect.prefect_layer.task_review",
    "list_open_processmaker_tasks": "processmaker_prefect.prefect_layer.task_review",
    "install_event_sink": "processmaker_prefect.prefect_layer.event_sink",
    "AuthorizationCodeLogin": "processmaker_prefect.auth",
    "CallbackListener": "processmaker_prefect.auth",
    "CheckResult": "processmaker_prefect.health_checks",
    "ConfigurationError": "processmaker_prefect.errors",
    "ConnectionParameter": "processmaker_prefect.prefect_layer.blocks",
    "DEFAULT_RESOURCES": "processmaker_prefect.catalogue",
    "DEFAULT_URL": "processmaker_prefect.destinations",
    "DestinationURL": "processmaker_prefect.url_credentials",
    "NO_PASSWORD_PATTERN": "processmaker_prefect.url_credentials",
    "password_in_url": "processmaker_prefect.url_credentials",
    "refuse_password_in_url": "processmaker_prefect.url_credentials",
    "HIDE_NONE": "processmaker_prefect.prefect_layer.forms",
    "NONE_IS_EMPTY": "processmaker_prefect.prefect_layer.forms",
    "ProcessMakerAuthError": "processmaker_prefect.errors",
    "ProcessMakerConnection": "processmaker_prefect.prefect_layer.blocks",
    "ProcessMakerCredentials": "processmaker_prefect.auth",
    "ProcessMakerPrefectError": "processmaker_prefect.errors",
    "ProcessMakerSettings": "processmaker_prefect.settings",
    "ProcessMakerUnavailableError": "processmaker_prefect.errors",
    "ResolvedConnection": "processmaker_prefect.prefect_layer.blocks",
    "RESOURCES": "processmaker_prefect.catalogue",
    "RESOURCE_NAMES": "processmaker_prefect.catalogue",
    "OFFERED_RESOURCES": "processmaker_prefect.catalogue",
    "TokenEndpoint": "processmaker_prefect.auth",
    "TokenError": "processmaker_prefect.errors",
    "VaultError": "processmaker_prefect.errors",
    "VaultSettings": "processmaker_prefect.settings",
    "call_processmaker_endpoint": "processmaker_prefect.prefect_layer.api_calls",
    "check_destination_url": "processmaker_prefect.destinations",
    "default_destination": "processmaker_prefect.destinations",
    "check_token": "processmaker_prefect.prefect_layer.token_checks",
    "check_transport": "processmaker_prefect.api",
    "choose_grant": "processmaker_prefect.auth",
    "complete_processmaker_task": "processmaker_prefect.prefect_layer.api_calls",
    "connection_name": "processmaker_prefect.prefect_layer.blocks",
    "destination_lock": "processmaker_prefect.prefect_layer.destination_locks",
    "destination_lock_name": "processmaker_prefect.prefect_layer.destination_locks",
    "get_vault": "processmaker_prefect.vault",
    "instance_limit_name": "processmaker_prefect.prefect_layer.instance_limits",
    "list_processmaker_records": "processmaker_prefect.prefect_layer.api_calls",
    "load_connection": "processmaker_prefect.prefect_layer.blocks",
    "load_settings": "processmaker_prefect.settings",
    "open_client": "processmaker_prefect.prefect_layer.connection",
    "open_destination": "processmaker_prefect.destinations",
    "progress_listeners": "processmaker_prefect.sync",
    "read_vault_secret": "processmaker_prefect.prefect_layer.vault_secrets",
    "reconcile_resource": "processmaker_prefect.prefect_layer.resource_sync",
    "redact_userinfo": "processmaker_prefect.destinations",
    "reset_token_providers": "processmaker_prefect.auth",
    "reset_vault_sessions": "processmaker_prefect.vault",
    "resolve_connection": "processmaker_prefect.prefect_layer.blocks",
    "resolve_settings": "processmaker_prefect.prefect_layer.blocks",
    "resource_for": "processmaker_prefect.catalogue",
    "run_checks": "processmaker_prefect.health_checks",
    "saved_connection_names": "processmaker_prefect.prefect_layer.blocks",
    "save_refresh_token": "processmaker_prefect.auth",
    "start_processmaker_request": "processmaker_prefect.prefect_layer.api_calls",
    "sync_resource": "processmaker_prefect.prefect_layer.resource_sync",
    "verify_option": "processmaker_prefect.api",
}

__all__ = [
    "DEFAULT_RESOURCES",
    "DEFAULT_URL",
    "HIDE_NONE",
    "NONE_IS_EMPTY",
    "NO_PASSWORD_PATTERN",
    "OFFERED_RESOURCES",
    "RESOURCES",
    "RESOURCE_NAMES",
    "AuthorizationCodeLogin",
    "CallbackListener",
    "CheckResult",
    "ConfigurationError",
    "ConnectionParameter",
    "DestinationURL",
    "OutcomeUnknownError",
    "ProcessMakerAuthError",
    "ProcessMakerConnection",
    "ProcessMakerCredentials",
    "ProcessMakerPrefectError",
    "ProcessMakerSettings",
    "ProcessMakerUnavailableError",
    "ResolvedConnection",
    "StartedRequests",
    "TokenEndpoint",
    "TokenError",
    "VaultError",
    "VaultSettings",
    "__version__",
    "apply_processmaker_task_action",
    "call_processmaker_endpoint",
    "check_destination_url",
    "check_token",
    "check_transport",
    "choose_grant",
    "complete_processmaker_task",
    "connection_name",
    "default_destination",
    "destination_lock",
    "destination_lock_name",
    "get_vault",
    "install_event_sink",
    "instance_limit_name",
    "list_open_processmaker_tasks",
    "list_processmaker_records",
    "load_connection",
    "load_settings",
    "open_client",
    "open_destination",
    "password_in_url",
    "progress_listeners",
    "read_vault_secret",
    "reconcile_resource",
    "redact_userinfo",
    "refuse_password_in_url",
    "reset_token_providers",
    "reset_vault_sessions",
    "resolve_connection",
    "resolve_settings",
    "resource_for",
    "run_checks",
    "save_refresh_token",
    "saved_connection_names",
    "start_processmaker_request",
    "sync_resource",
    "verify_option",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
