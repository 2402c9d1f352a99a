"""Names of flow runs and task runs that say what they do, e.g. ``sync pm-prod -> warehouse``."""

from __future__ import annotations

from typing import Any

from prefect.runtime import flow_run

__all__ = ["connection_label", "parameter"]


def parameter(name: str) -> Any:
    """A parameter of the current flow run (validated: a block is a block), or None."""
    return flow_run.parameters.get(name)


def connection_label() -> str:
    """The run's ``connection``: the block's name, or "environment" when none is given."""
    value = parameter("connection")
    if value is None or value == "":
        return "environment"
    if isinstance(value, str):
        return value
    return str(getattr(value, "_block_document_name", None) or "unsaved block")
