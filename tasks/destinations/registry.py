"""Choose a destination backend by URL scheme; backends are imported on use.

psycopg is optional (the ``postgres`` extra), and DuckDB need not load for a PostgreSQL sync.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from processmaker_prefect.destinations.base import Destination, redact_userinfo, schema_option
from processmaker_prefect.errors import ConfigurationError

__all__ = ["DEFAULT_URL", "check_destination_url", "default_destination", "open_destination"]

# What a flow's ``destination`` parameter says when left alone: a DuckDB file per instance,
# named from its host (default_destination), in the worker user's home, not wherever the
# worker happens to run (often a code checkout). Also the file every instance shared before.
DEFAULT_URL = "duckdb:///~/processmaker-prefect/processmaker.duckdb"
_DEFAULT_DIR = "~/processmaker-prefect"
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def default_destination(instance_url: str, destination: str = DEFAULT_URL) -> str:
    """``destination``, or for :data:`DEFAULT_URL` the default file of the instance at
    ``instance_url``: ``duckdb:///~/processmaker-prefect/<host>[_<port>].duckdb``, so two
    connections left at the default never share tables.

    The file all instances shared before keeps being used while the instance's own does not
    exist yet: its data stays where it was (its first instance keeps it; another is refused
    and named by the destination, see ``Destination.bind_instance``).
    """
    if destination != DEFAULT_URL:
        return destination
    parts = urlsplit(instance_url)
    host = _UNSAFE.sub("_", (parts.hostname or "processmaker").lower()).strip("_.")
    name = f"{host}_{parts.port}" if parts.port else host
    own = f"duckdb:///{_DEFAULT_DIR}/{name or 'processmaker'}.duckdb"
    legacy = Path(DEFAULT_URL.removeprefix("duckdb:///")).expanduser()
    if legacy.exists() and not Path(f"{_DEFAULT_DIR}/{name}.duckdb").expanduser().exists():
        return DEFAULT_URL
    return own


def _open_duckdb(url: str) -> Destination:
    from processmaker_prefect.destinations.duckdb import DuckDBDestination

    return DuckDBDestination.from_url(url)


def _open_postgres(url: str) -> Destination:
    try:
        from processmaker_prefect.destinations.postgres import PostgresDestination
    except ImportError as exc:  # psycopg is the optional "postgres" extra
        raise ConfigurationError(
            "postgresql:// destinations need psycopg: pip install 'processmaker-prefect[postgres]'"
        ) from exc
    return PostgresDestination.from_url(url)


_OPENERS: dict[str, Callable[[str], Destination]] = {
    "duckdb": _open_duckdb,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


def check_destination_url(url: str) -> str:
    """Validate ``url`` without connecting; return its scheme.

    Raises:
        ConfigurationError: the scheme is not supported, or a DuckDB URL names no file.
            (A PostgreSQL URL without a database is libpq's: the database named as the user.)
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _OPENERS:
        raise ConfigurationError(
            f"Unsupported destination URL scheme {scheme or '(none)'!r} in "
            f"{redact_userinfo(url)!r}: use duckdb:///path.duckdb, duckdb:///:memory: "
            "or postgresql://user@host:port/db"
        )
    if scheme == "duckdb" and not (url.startswith("duckdb:///") and url[10:].strip("/")):
        raise ConfigurationError(
            f"Destination URL {url!r} names no file: use duckdb:///relative/path.duckdb, "
            "duckdb:////absolute/path.duckdb or duckdb:///:memory:"
        )
    schema_option(url)  # a bad ?schema= fails here, before any connection
    return scheme


def open_destination(url: str = DEFAULT_URL) -> Destination:
    """Open the destination at ``url``; use it as a context manager so it gets closed.

    Args:
        url: ``duckdb:///path.duckdb`` (relative), ``duckdb:////abs/path.duckdb``,
            ``duckdb:///~/path.duckdb`` (in the user's home),
            ``duckdb:///:memory:`` or ``postgresql://user@host:port/db`` (put a password in
            PGPASSWORD or ~/.pgpass rather than in the URL; it is never shown anyway).
            ``?schema=name`` puts every table of this connection in that schema (created if
            missing), to keep ProcessMaker instances apart in one database.

    Raises:
        ConfigurationError: the URL is not supported.
        DestinationError: the database cannot be opened (locked, unreachable, refused).
    """
    return _OPENERS[check_destination_url(url)](url)
