"""Prefect task: make sure a ProcessMaker token can be had, and describe it without its value."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from processmaker_prefect.auth import get_token_provider
from processmaker_prefect.errors import retry_on_retriable

__all__ = ["check_token"]


@task(
    name="Check ProcessMaker token",
    description="Obtain (or reuse) the bearer token; returns only non-secret facts about it.",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_on_retriable,
)
def check_token() -> dict[str, Any]:
    """Make sure a token can be had; return the grant name, subject and expiry, never the token."""
    provider = get_token_provider()
    token = provider.token()
    return {
        "grant": provider.grant_name,
        "subject": token.subject(),
        "expires_at": token.expires_at,
    }
