"""The deployments of ``prefect.yaml`` (shipped in this package), for ``prefect deploy`` and
``pm-prefect serve`` alike: one file holds the schedules and deployment definitions.

``python -m processmaker_prefect.flows.deployments`` prints the file's path, for
``prefect deploy --all --prefect-file "$(python -m processmaker_prefect.flows.deployments)"``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

__all__ = ["PREFECT_YAML", "deployment_configs", "runner_deployments"]

#: The package's prefect.yaml (in the repository, a link to the one at its top).
PREFECT_YAML = Path(__file__).with_name("prefect.yaml")


def deployment_configs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` entries of ``path``, with its YAML anchors resolved."""
    loaded = yaml.safe_load(path.read_text())
    deployments: list[dict[str, Any]] = loaded.get("deployments") or []
    return deployments


def _schedule(config: dict[str, Any]) -> Schedule:
    """One ``schedules`` entry of prefect.yaml as Prefect's own schedule object."""
    from prefect.schedules import Cron, Interval, RRule

    common: dict[str, Any] = {
        "timezone": config.get("timezone"),
        "active": config.get("active", True),
        "parameters": config.get("parameters") or {},
        "slug": config.get("slug"),
    }
    if "cron" in config:
        return Cron(config["cron"], day_or=config.get("day_or", True), **common)
    if "interval" in config:
        interval = config["interval"]
        seconds = timedelta(seconds=interval) if isinstance(interval, int | float) else interval
        return Interval(seconds, **common)
    if "rrule" in config:
        return RRule(config["rrule"], **common)
    raise ValueError(f"prefect.yaml: a schedule needs cron, interval or rrule: {config}")


def runner_deployments(path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """Each deployment of ``path`` as a served deployment: its flow imported by module path,
    its schedules, parameters, tags and description as ``prefect deploy`` would set them."""
    from prefect.types.entrypoint import EntrypointType
    from prefect.utilities.importtools import import_object

    served = []
    for config in deployment_configs(path):
        flow = import_object(config["entrypoint"])
        served.append(
            flow.to_deployment(
                name=config["name"],
                description=config.get("description"),
                tags=config.get("tags"),
                parameters=config.get("parameters") or {},
                schedules=[_schedule(s) for s in config.get("schedules") or []],
                enforce_parameter_schema=config.get("enforce_parameter_schema", True),
                # Runs import the flow from the installed package, wherever `serve` started.
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return served


if __name__ == "__main__":
    print(PREFECT_YAML)  # the one output, for `prefect deploy --prefect-file`
