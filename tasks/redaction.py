"""Scrub secret values out of text before it reaches a log, an exception or an artifact."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

__all__ = ["redact", "redact_secrets", "redact_url"]

MASK = "**********"
_QUERY = re.compile(r"\?[^\s'\"]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: Iterable[SecretStr | str | None] = ()) -> str:
    """Return ``text`` with every given secret value, and any bearer token, masked."""
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    return _BEARER.sub(rf"\g<1>{MASK}", text)


def redact_url(url: str) -> str:
    """Drop the query string of ``url``: query parameters may carry codes or tokens."""
    return _QUERY.sub("", url)


# Keys whose values are credentials wherever they appear in a ProcessMaker response, e.g.
# the accessToken of POST /users/{id}/tokens or an environment variable's value.
CREDENTIAL_KEYS = frozenset(
    {
        "accesstoken",
        "access_token",
        "refresh_token",
        "refreshtoken",
        "password",
        "client_secret",
        "secret",
        "remember_token",
        "personal_access_token",
        "api_token",
    }
)


def _is_credential(key: Any) -> bool:
    return str(key).lower() in CREDENTIAL_KEYS


def redact_secrets(value: Any) -> Any:
    """A copy of a JSON value with the values of credential-like keys masked, at any depth."""
    if isinstance(value, dict):
        return {
            key: MASK
            if str(key).lower() in CREDENTIAL_KEYS and value[key]
            else redact_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value
