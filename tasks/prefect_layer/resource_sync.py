"""Prefect task: sync one ProcessMaker resource into a destination, resumable at any point."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from processmaker_prefect.catalogue import resource_for
from processmaker_prefect.destinations import open_destination
from processmaker_prefect.prefect_layer.blocks import ResolvedConnection, resolve_settings
from processmaker_prefect.prefect_layer.connection import open_client
from processmaker_prefect.prefect_layer.task_options import CALL_TASK_OPTIONS
from processmaker_prefect.sync import ResourceSync
from processmaker_prefect.sync.reconcile import reconcile

__all__ = ["reconcile_resource", "sync_resource"]


@task(
    name="Sync ProcessMaker resource",
    task_run_name="sync-{resource}",
    description="Incrementally upsert one ProcessMaker resource into the destination.",
    **CALL_TASK_OPTIONS,
)
def sync_resource(
    resource: str,
    destination: str,
    full_refresh: bool = False,
    connection: ResolvedConnection | str | None = None,
    pmql: str | None = None,
) -> dict[str, Any]:
    """Sync ``resource`` into the destination URL; returns counts and the new watermark.

    ``connection`` is the run's resolved connection (a flow resolves it once for all its
    tasks), or names a ProcessMakerConnection block, resolved here; without it the
    environment configures everything. ``pmql`` restricts the sync to matching rows, with a
    watermark of its own.
    """
    logger = get_run_logger()
    spec = resource_for(resource).with_filter(pmql)
    settings, vault_settings = resolve_settings(connection)
    with open_client(settings, vault_settings) as client, open_destination(destination) as dest:
        dest.max_variable_columns = settings.max_variable_columns
        sync = ResourceSync(
            client,
            dest,
            spec,
            per_page=settings.page_size,
            max_concurrency=settings.max_concurrency,
            lag=settings.sync_lag,
        )
        result = sync.run(full_refresh=full_refresh)
    logger.info(
        "%s: %d rows in %d pages, watermark %s", spec.name, result.rows, result.pages,
        result.watermark,
    )  # fmt: skip
    if result.rejected:
        logger.warning(
            "%s: %d records could not be stored: they are in the table _rejected with the "
            "reason; the sync moved on and stores each again when it next changes",
            spec.name, result.rejected,
        )  # fmt: skip
    if result.keys_in_raw:
        logger.warning(
            "%s: %d variable keys have no column (PROCESSMAKER_MAX_VARIABLE_COLUMNS=%d was "
            "reached); their values are in requests.raw",
            spec.name, result.keys_in_raw, settings.max_variable_columns,
        )  # fmt: skip
    return result.as_dict()


@task(
    name="Reconcile ProcessMaker resource",
    task_run_name="reconcile-{resource}",
    description="Mark the stored rows whose record ProcessMaker no longer lists (_deleted_at).",
    **CALL_TASK_OPTIONS,
)
def reconcile_resource(
    resource: str, destination: str, connection: ResolvedConnection | str | None = None
) -> dict[str, Any]:
    """List the ids ProcessMaker serves for ``resource`` and mark the other stored rows
    deleted, in one destination transaction; returns ids listed and rows marked."""
    logger = get_run_logger()
    spec = resource_for(resource)
    settings, vault_settings = resolve_settings(connection)
    with open_client(settings, vault_settings) as client, open_destination(destination) as dest:
        result = reconcile(client, dest, spec, per_page=settings.page_size)
    logger.info("%s: %d ids listed, %d rows marked deleted", spec.name, result.listed,
                result.deleted)  # fmt: skip
    return result.as_dict()
