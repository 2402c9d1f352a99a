"""Which ProcessMaker instance a destination holds, and the schema that keeps one apart.

A destination records the instance it belongs to (see ``Destination.bind_instance``) as
:func:`instance_id` makes it; a destination URL's ``?schema=`` (:func:`schema_option`) puts
every table of a connection in a schema of its own, so two instances can share a database.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from processmaker_prefect.errors import ConfigurationError

__all__ = ["instance_id", "schema_option"]


def instance_id(url: str) -> str:
    """A ProcessMaker instance as recorded in a destination: ``scheme://host[:port]/path``,
    lower-case host, no user, query or trailing slash (never a secret)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def schema_option(url: str) -> str | None:
    """The ``?schema=`` of a destination URL: where this connection's tables live.

    Raises:
        ConfigurationError: the name is not a lower-case identifier of at most 63 characters.
    """
    values = [v for k, v in parse_qsl(urlsplit(url).query) if k == "schema"]
    if not values or not values[-1]:
        return None
    schema = values[-1]
    if not _SCHEMA.fullmatch(schema):
        raise ConfigurationError(
            f"Destination schema {schema[:70]!r} is not a lower-case SQL identifier: use "
            "letters a-z, digits and _ (at most 63), e.g. ?schema=pm_production"
        )
    return schema
