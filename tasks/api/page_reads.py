"""A list page read until it comes, short of an outage: the client's second line of retries.

urllib3 retries every call (``api.transport``). A page can still fail: its retries spent
on a burst of 500s, or a body cut off in transit, which urllib3 cannot see. Such a page is
read again here, on its own, so the sync around it carries on from where it is: neither the
pages already stored nor the ones in flight beside it are read twice, as they would be if the
error reached Prefect and restarted the resource.

- A body cut off in transit is read again at once, with the same jittered backoff and the
  same number of retries as a failed call.
- A page whose retries are spent gets another round of them after ``round_delay`` seconds
  (doubling each round): long enough for a worker restart or a deploy to finish.
- Every wait is on the instance's circuit breaker: when ProcessMaker is down, the page stops
  at once with the breaker's one line, whatever round it is in.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from processmaker_prefect.api.breaker import CircuitBreaker
from processmaker_prefect.errors import IncompleteResponseError, RetriableError

__all__ = ["PageRetry", "backoff_seconds"]

T = TypeVar("T")
BACKOFF_MAX = 30.0
ROUND_DELAY_MAX = 600.0

logger = logging.getLogger(__name__)


def backoff_seconds(attempt: int, factor: float, cap: float = BACKOFF_MAX) -> float:
    """``factor * 2**attempt`` plus up to half of ``factor`` of jitter, at most ``cap``."""
    return min(cap, factor * 2.0**attempt + random.random() * factor / 2)  # noqa: S311


@dataclass(frozen=True)
class PageRetry:
    """How often, and how patiently, one page is read again.

    Args:
        retries: Re-reads of a cut-off body within a round (the client's ``retries``).
        backoff: Backoff factor of those re-reads, seconds.
        rounds: Rounds a page gets in all; 1 means no second round.
        round_delay: Seconds before the second round; each later round waits twice as long.
    """

    retries: int = 5
    backoff: float = 0.5
    rounds: int = 2
    round_delay: float = 15.0

    def read(self, fetch: Callable[[], T], breaker: CircuitBreaker) -> T:
        """``fetch()``, again while it fails with a retriable error and rounds are left.

        Raises:
            RetriableError: the last round's error, when every round failed.
            ProcessMakerUnavailableError: the breaker opened.
        """
        for round_ in range(1, self.rounds):
            try:
                return self._round(fetch, breaker)
            except RetriableError as exc:
                delay = backoff_seconds(round_ - 1, self.round_delay, cap=ROUND_DELAY_MAX)
                logger.warning(
                    "%s; reading this page again in %.1f s (round %d of %d)",
                    str(exc).split("; ")[0], delay, round_ + 1, self.rounds,
                )  # fmt: skip
                breaker.pause(delay)
        return self._round(fetch, breaker)

    def _round(self, fetch: Callable[[], T], breaker: CircuitBreaker) -> T:
        for attempt in range(self.retries):
            try:
                return fetch()
            except IncompleteResponseError:
                breaker.pause(backoff_seconds(attempt, self.backoff))
        return fetch()
