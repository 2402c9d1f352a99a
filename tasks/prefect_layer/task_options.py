"""Options every ProcessMaker call task shares: no cache, retries on retriable errors only."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from processmaker_prefect.errors import retry_on_retriable

__all__ = ["CALL_TASK_OPTIONS"]

#: ``@task(name=..., description=..., **CALL_TASK_OPTIONS)``: no cache (a result may stand for
#: a token's work, and inputs may be resolved settings), two retries 10 s and 60 s apart, and
#: only for a RetriableError (a 4xx or a refused credential fails at once).
CALL_TASK_OPTIONS: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": [10, 60],
    "retry_condition_fn": retry_on_retriable,
}
