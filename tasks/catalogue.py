"""The one resource catalogue: each ProcessMaker list route we sync, how to page it, its table.

A resource is a list route under /api/1.0 and the table it lands in, keyed by ``id``: the typed
columns below, then ``raw`` (the record as received, as JSON), ``_synced_at``,
``_deleted_at``, ``_instance`` and ``_filter`` (the instance and filter of the sync that wrote
the row). The core resources are written out here; any other list route of
ProcessMaker's spec (``tasks/routes.json``, see :mod:`spec_routes`) is a resource by its
name, its typed columns taken from the spec. Routes that can return secrets are refused.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Literal, cast

from processmaker_prefect.errors import ConfigurationError
from processmaker_prefect.pmql_filter import hold_filter
from processmaker_prefect.spec_routes import load_routes

__all__ = [
    "DEFAULT_RESOURCES",
    "NOT_OFFERED",
    "OFFERED_RESOURCES",
    "REFUSED",
    "RESOURCES",
    "RESOURCE_NAMES",
    "SPECS",
    "Column",
    "Resource",
    "TableSpec",
    "is_resource",
    "resource_for",
    "spec_for",
]

Kind = Literal["bigint", "text", "timestamp"]
_COLLECTION = re.compile(r"collection_(\d{1,18})_records")


@dataclass(frozen=True)
class Column:
    """A typed column filled from the record's key of the same name."""

    name: str
    kind: Kind


@dataclass(frozen=True)
class TableSpec:
    """The typed columns of one resource's table (``id`` first) and keys never stored."""

    name: str
    columns: tuple[Column, ...]
    # Never stored, not even in raw: ProcessMaker hides them, but a misconfigured instance
    # that exposes them must not copy them into a warehouse.
    drop: frozenset[str] = frozenset()

    @property
    def names(self) -> list[str]:
        """All column names in table order, including ``raw`` and ``_synced_at``."""
        return [c.name for c in self.columns] + ["raw", "_synced_at"]


def _spec(name: str, columns: str, drop: frozenset[str] = frozenset()) -> TableSpec:
    # "id:bigint uuid:text ..." keeps each table on one readable line.
    pairs = (item.split(":") for item in columns.split())
    parsed = tuple(Column(name, cast(Kind, kind)) for name, kind in pairs)
    return TableSpec(name, parsed, drop)


@dataclass(frozen=True)
class Resource:
    """A ProcessMaker list route, how to page it by time, and the table it lands in.

    Attributes:
        name: Destination table name, e.g. ``requests``.
        path: List route under /api/1.0.
        spec: The table's typed columns and the keys never stored.
        params: Fixed query parameters (e.g. ``include=data``).
        pmql_field: PMQL name of the update time (``modified`` for requests and tasks), or
            None for routes that take no PMQL (read newest first instead).
        full_scan: The rows carry no update time at all (collection records): read the
            whole list by id on every run.
        takes_pmql: The route reads a ``pmql`` parameter (a filter can be applied).
        show: ``GET <path>/{id}`` exists (reconcile confirms a deletion there).
        filter: A PMQL filter AND-ed into every read; its watermark is kept apart.
    """

    name: str
    path: str
    spec: TableSpec
    params: dict[str, Any] = field(default_factory=dict)
    pmql_field: str | None = "modified"
    full_scan: bool = False
    takes_pmql: bool = True
    show: bool = True
    filter: str | None = None

    def with_filter(self, pmql: str | None) -> Resource:
        """This resource restricted to the rows matching ``pmql`` (None or blank: all rows).

        Raises:
            ConfigurationError: the route takes no PMQL, or ``pmql`` is not one whole
                expression (:func:`~processmaker_prefect.pmql_filter.hold_filter`).
        """
        pmql = " ".join((pmql or "").split())
        if not pmql:
            return self
        pmql = hold_filter(pmql, self.name)
        if not self.takes_pmql:
            raise ConfigurationError(
                f"Resource {self.name!r} cannot be filtered: GET /api/1.0{self.path} takes no "
                "PMQL; filter requests, tasks, screens, scripts or collection records instead"
            )
        return replace(self, params={**self.params, "pmql": pmql}, filter=pmql)


def _resource(name: str, columns: str, **options: Any) -> Resource:
    drop = options.pop("drop", frozenset())
    return Resource(name, f"/{name}", _spec(name, columns, drop), **options)


_T = "created_at:timestamp updated_at:timestamp"
RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        _resource(
            "requests",
            "id:bigint uuid:text process_id:bigint user_id:bigint status:text name:text "
            f"case_number:bigint case_title:text {_T} initiated_at:timestamp "
            "completed_at:timestamp",
            params={"include": "data"},
        ),
        _resource(
            "tasks",
            "id:bigint uuid:text process_request_id:bigint process_id:bigint user_id:bigint "
            "element_id:text element_type:text element_name:text status:text due_at:timestamp "
            f"completed_at:timestamp {_T}",
        ),
        # ProcessMaker's users, processes and groups lists take no PMQL (API-NOTES §2).
        _resource(
            "users",
            f"id:bigint username:text email:text firstname:text lastname:text status:text {_T}",
            drop=frozenset({"password", "remember_token"}),
            pmql_field=None,
            takes_pmql=False,
        ),
        _resource(
            "processes",
            f"id:bigint name:text status:text process_category_id:bigint {_T}",
            pmql_field=None,
            takes_pmql=False,
        ),
        _resource(
            "groups", f"id:bigint name:text status:text {_T}", pmql_field=None, takes_pmql=False
        ),
    )
}
#: What a sync reads when no resources are named: every core resource.
DEFAULT_RESOURCES: tuple[str, ...] = tuple(RESOURCES)
SPECS: dict[str, TableSpec] = {name: r.spec for name, r in RESOURCES.items()}
_RECORDS = "id:bigint collection_id:bigint " + _T
#: List routes never synced, and why: a warehouse must not hold credentials.
REFUSED: dict[str, str] = {
    "environment_variables": "environment variables hold credentials (API keys, passwords) "
    "for scripts; the list omits their value, but a destination is no place for them",
    "settings": "settings hold mail, LDAP and SSO passwords and client secrets in their config",
}
# Besides requests and tasks, these index methods read a pmql parameter (ScreenController,
# ScriptController), though the spec does not list it.
_PMQL_ROUTES = frozenset({"screens", "scripts"})
# Keys dropped from every record of a route read by name: secrets never go into raw either.
_DROP = frozenset({"password", "remember_token", "value", "client_secret", "secret"})


def _from_route(route: str, info: dict[str, Any]) -> Resource:
    table = route.replace("-", "_")
    return Resource(
        table,
        str(info["path"]),
        _spec(table, str(info["columns"]), _DROP),
        pmql_field=None,
        full_scan=not info["incremental"],
        takes_pmql=route in _PMQL_ROUTES,
        show=bool(info["show"]),
    )


@cache
def _routes() -> dict[str, Resource]:
    """Every list route read by name: table name -> Resource (the core ones excluded)."""
    return {
        r.name: r
        for route, info in load_routes().items()
        if route not in RESOURCES and route not in REFUSED
        for r in [_from_route(route, info)]
    }


#: Every resource a sync can take by name (collections aside): the core ones, then every other
#: list route of ProcessMaker's API that is not refused. The run form's multi-select.
RESOURCE_NAMES: tuple[str, ...] = (*RESOURCES, *_routes())


#: List routes a sync takes by name but the run form does not offer, and why: a run form lists
#: what lands as a table of records, and only routes the sandbox serves (so tested end to end).
NOT_OFFERED: dict[str, str] = {
    "group_members_available": "a lookup (the groups a user may join), not a table",
    "user_members_available": "a lookup (the users a group may take), not a table",
    "users_task_count": "a lookup (users with their task counts), not a table",
    "start_processes": "a lookup (the processes the caller may start), not a table",
    "saved_searches": "each user's own searches, not the instance's records",
    "security_logs": "ProcessMaker's audit log, read whole on every run; sync it by name",
    "screen_categories": "not served by the sandbox yet; sync it by name",
    "script_categories": "not served by the sandbox yet; sync it by name",
    "script_executors": "not served by the sandbox yet; sync it by name",
}

#: What the run form's resources picker offers: the core resources (the default), then the
#: other list routes that hold a table of records.
OFFERED_RESOURCES: tuple[str, ...] = tuple(n for n in RESOURCE_NAMES if n not in NOT_OFFERED)


def _unknown(name: str) -> ConfigurationError:
    known = [*RESOURCES, *_routes(), "collection:<id>"]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ConfigurationError(
        f"Unknown resource {name!r}: {hint}use a list route of ProcessMaker's API "
        f"({', '.join(known)})"
    )


def resource_for(name: str) -> Resource:
    """The Resource for ``name``: a core one, ``collection:<id>`` for collection records, or
    any other list route of ProcessMaker's API by its name (``screens``, ``group_members``).

    Raises:
        ConfigurationError: ``name`` is none of these (the message lists close matches), or a
            route that can return secrets.
    """
    if name in RESOURCES:
        return RESOURCES[name]
    prefix, _, ident = name.partition(":")
    if prefix == "collection" and ident.isdigit():
        path = f"/collections/{ident}/records"
        # A record is {"id", "collection_id", "data"}: no timestamps (API-NOTES §4).
        table = f"collection_{ident}_records"
        return Resource(table, path, spec_for(table), pmql_field=None, full_scan=True)
    route = name.strip().strip("/")
    if route in REFUSED or route.replace("-", "_") in REFUSED:
        reason = REFUSED.get(route) or REFUSED[route.replace("-", "_")]
        raise ConfigurationError(f"Resource {name!r} is refused: {reason}")
    routes = _routes()
    table = route.replace("-", "_")
    if table in routes:
        return routes[table]
    raise _unknown(name)


def is_resource(name: str) -> bool:
    """Whether ``name`` is a resource table name (``requests``, ``collection_3_records``...)."""
    return name in SPECS or _COLLECTION.fullmatch(name) is not None or name in _routes()


def spec_for(resource: str) -> TableSpec:
    """The spec of ``resource``; collection records share one spec, named per collection.

    Raises:
        ConfigurationError: ``resource`` is not a known table name. Table names are checked
            here because they are quoted into SQL.
    """
    if resource in SPECS:
        return SPECS[resource]
    if _COLLECTION.fullmatch(resource):
        return _spec(resource, _RECORDS)
    if resource in (routes := _routes()):
        return routes[resource].spec
    raise ConfigurationError(
        f"Unknown destination table {resource!r}: use {', '.join(SPECS)}, "
        "collection_<id>_records or a list route's name"
    )
