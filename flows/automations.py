"""Load the day-one automations of ``flows/automations.yaml`` into a Prefect server.

The file names things; Prefect's API wants ids. This fills in ``"{notify}"`` with the id of
the notification block given as ``type-slug/name`` and ``"{healthcheck}"`` with the id of
the healthcheck deployment, then replaces automations of the same name (loading twice
leaves one of each).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from processmaker_prefect import ConfigurationError

__all__ = ["AUTOMATIONS_FILE", "LoadedAutomation", "load_automations"]

AUTOMATIONS_FILE = Path(__file__).with_name("automations.yaml")
HEALTHCHECK_DEPLOYMENT = "processmaker-healthcheck/healthcheck"


@dataclass(frozen=True)
class LoadedAutomation:
    """What happened to one automation of the file: ``id`` is ``None`` when skipped."""

    name: str
    id: str | None
    note: str


def _fill(value: Any, ids: dict[str, str]) -> Any:
    """Replace ``"{key}"`` strings by ``ids[key]`` at any depth; Jinja ``{{ }}`` stays."""
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and not value.startswith("{{"):
        return ids.get(value.strip("{}"), value)
    return value


def _needs(value: Any) -> set[str]:
    """The ``"{key}"`` placeholders used in ``value``."""
    if isinstance(value, dict):
        return set().union(*(_needs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_needs(v) for v in value)) if value else set()
    if isinstance(value, str) and value.startswith("{") and not value.startswith("{{"):
        return {value.strip("{}")}
    return set()


def load_automations(notify: str, path: Path = AUTOMATIONS_FILE) -> list[LoadedAutomation]:
    """Create (or replace) each automation of ``path`` on the configured Prefect API.

    Args:
        notify: The notification block, ``type-slug/name`` (e.g. ``slack-webhook/ops``).
        path: The YAML file (``automations:`` list, as ``prefect automation create -f``).

    Raises:
        ConfigurationError: the block does not exist, or ``notify`` is not ``slug/name``.
    """
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore
    from prefect.exceptions import ObjectNotFound

    slug, _, name = notify.partition("/")
    if not slug or not name:
        raise ConfigurationError(
            f"--notify {notify!r} is not type-slug/name: e.g. custom-webhook/processmaker-alerts "
            "(see `prefect block ls`)"
        )
    automations = yaml.safe_load(path.read_text())["automations"]
    loaded: list[LoadedAutomation] = []
    with get_client(sync_client=True) as client:
        try:
            block = client.read_block_document_by_name(name, slug, include_secrets=False)
        except ObjectNotFound:
            raise ConfigurationError(
                f"No Prefect block {notify}: create it first (`prefect block create {slug}` "
                "or in the UI under Blocks), then load the automations again"
            ) from None
        ids = {"notify": str(block.id)}
        with contextlib.suppress(ObjectNotFound):  # automations that run it are skipped
            ids["healthcheck"] = str(client.read_deployment_by_name(HEALTHCHECK_DEPLOYMENT).id)
        for raw in automations:
            missing = _needs(raw) - set(ids)
            if missing:
                loaded.append(
                    LoadedAutomation(
                        raw["name"], None, "skipped: deploy first (`prefect deploy --all`)"
                    )
                )
                continue
            automation = AutomationCore.model_validate(_fill(raw, ids))
            replaced = client.read_automations_by_name(automation.name)
            for old in replaced:
                client.delete_automation(old.id)
            new_id = client.create_automation(automation)
            loaded.append(
                LoadedAutomation(
                    automation.name, str(new_id), "replaced" if replaced else "created"
                )
            )
    return loaded
