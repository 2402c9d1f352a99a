"""Refuse URLs that carry a password, before anything stores them (flow parameters, settings).

A destination URL is a flow parameter, and Prefect stores parameters (the run, its events,
the artifact). libpq reads a password from more spellings than ``user:pass@``: a query key
``password`` or ``sslpassword``, and query keys are percent-decoded, so ``?pass%77ord=`` is a
password too. One rule covers every spelling the driver accepts, stated twice: as a Python
check (the CLI, the flow's own validation, the settings) and as a JSON-schema ``pattern``
(which Prefect's server enforces on a deployment's parameters when a run is created from the
UI or the API, before anything is stored). The rule is conservative: it refuses a URL with
user info holding a colon, any ``...password=`` (any case, URL or libpq keyword form) and any
percent-encoded query key; none of them is needed to name a database.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, WithJsonSchema

__all__ = ["NO_PASSWORD_PATTERN", "DestinationURL", "password_in_url", "refuse_password_in_url"]

# A lookahead, so that it works as a JSON-schema ``pattern`` (ECMA and Python ``re`` alike):
# it matches, at the start, only a string that holds none of the three spellings.
_SPELLINGS = {
    "its user info (user:password@)": r"://[^/@]*:[^/@]*@",
    "a password= parameter": r"[Pp][Aa][Ss][Ss][Ww][Oo][Rr][Dd]\s*=",
    "a percent-encoded query key (the driver decodes it, e.g. pass%77ord=)": r"[?&][^=&]*%[^=&]*=",
}
NO_PASSWORD_PATTERN = r"^(?![\s\S]*(?:" + "|".join(_SPELLINGS.values()) + "))"
_COMPILED = {where: re.compile(spelling) for where, spelling in _SPELLINGS.items()}

_FIX = (
    "flow parameters are stored by Prefect, so put the password in PGPASSWORD or ~/.pgpass "
    "(or a pg_service.conf service) instead"
)


def password_in_url(url: str) -> str | None:
    """Where ``url`` holds a password (never the password itself), or None when it holds none."""
    for where, spelling in _COMPILED.items():
        if spelling.search(url):
            return where
    return None


def refuse_password_in_url(url: str, what: str = "The destination URL") -> str:
    """Return ``url`` unchanged, or raise naming where its password is (never the URL).

    Raises:
        ValueError: the URL holds a password in a spelling the driver accepts. (A
            ValueError, so that pydantic reports it; the CLI and the flow raise our
            ConfigurationError with the same message.)
    """
    where = password_in_url(url)
    if where is not None:
        raise ValueError(f"{what} holds a password in {where}: {_FIX}")
    return url


def refuse_userinfo(url: str) -> str:
    """Return ``url`` unchanged, or raise when it holds user info (``user:pass@host``).

    Raises:
        ValueError: naming the fix, never the URL (it would print the password).
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = url
    if "@" in netloc:
        raise ValueError(
            "must not hold a user or password (user:pass@host): it would be sent and shown; "
            "put the credentials in the Vault secret and give the URL as https://host"
        )
    return url


# The flow's ``destination`` parameter: checked by pydantic wherever the flow runs, and by
# Prefect's server through the pattern before a deployment's run (and its parameters) exists.
DestinationURL = Annotated[
    str,
    AfterValidator(refuse_password_in_url),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": NO_PASSWORD_PATTERN,
            "description": "duckdb:///path.duckdb or postgresql://user@host/db; a password "
            "goes in PGPASSWORD or ~/.pgpass, never in the URL (parameters are stored).",
        }
    ),
]
