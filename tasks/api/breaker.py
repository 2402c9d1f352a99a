"""A circuit breaker per ProcessMaker instance, shared by every thread of the process.

Retries are right for a blip and wrong for an outage: with four pages in flight, each with its
own retries and a second round, a down ProcessMaker would be asked dozens of times over minutes
before a run gave up. The breaker counts the outcome of every attempt to one instance, whatever
thread made it. After ``threshold`` failures in a row it opens: every new call, and every retry
waiting out its backoff, fails at once with one line naming the instance and the last failure.
After ``cooldown`` seconds one trial call goes through; a success closes the breaker, a failure
opens it again.

A failure is an attempt that got no usable answer: a 5xx, a refused, dropped or timed-out
connection, a body cut off in transit. Any other answer, a 4xx or a 429 included, proves the
server up and counts as a success.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from processmaker_prefect.errors import ProcessMakerUnavailableError
from processmaker_prefect.process_cache import ProcessCache

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_THRESHOLD",
    "CircuitBreaker",
    "breaker_for",
    "reset_breakers",
]

DEFAULT_THRESHOLD = 10
DEFAULT_COOLDOWN = 60.0

logger = logging.getLogger(__name__)


class CircuitBreaker:
    """Closed, open, or half-open (one trial call in flight); safe to share between threads.

    Args:
        instance: The instance's base URL, named in the error.
        threshold: Failures in a row that open the breaker.
        cooldown: Seconds the breaker stays open before it lets one trial call through.
        clock: Monotonic seconds (tests may pass their own).
    """

    def __init__(
        self,
        instance: str,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        cooldown: float = DEFAULT_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.instance, self.threshold, self.cooldown = instance, threshold, cooldown
        self._clock = clock
        self._lock = threading.Lock()
        # Set while open: sleeping retries wait on it, so they wake the moment it opens.
        self._open = threading.Event()
        self._trial = False
        self._failures = 0
        self._opened_at = 0.0
        self._last = ""

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def before_call(self) -> None:
        """Let a call through, or raise while open (after the cooldown, one trial passes).

        Raises:
            ProcessMakerUnavailableError: the breaker is open, or a trial call is in flight.
        """
        with self._lock:
            if self._trial or self._open.is_set():
                if self._trial or self._clock() - self._opened_at < self.cooldown:
                    raise self.error()
                self._trial = True  # half-open: this call is the trial
                self._open.clear()

    def record_success(self) -> None:
        """An attempt got an answer: the count starts again, and the breaker closes."""
        with self._lock:
            if self._trial:
                logger.info("ProcessMaker at %s answers again: calls resume", self.instance)
            self._failures, self._trial = 0, False
            self._open.clear()

    def record_failure(self, what: str) -> None:
        """An attempt failed; ``what`` (method, path, status or cause, no query) is kept."""
        with self._lock:
            self._failures += 1
            self._last = what
            if self._open.is_set() or not (self._trial or self._failures >= self.threshold):
                return
            self._trial = False
            self._opened_at = self._clock()
            self._open.set()
            message = str(self.error())
        logger.error("%s", message)

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` between attempts, unless the breaker opens meanwhile.

        Raises:
            ProcessMakerUnavailableError: the breaker is open, now or before the time is up.
        """
        if self._open.wait(timeout=max(seconds, 0.0)):
            with self._lock:
                raise self.error()

    def error(self) -> ProcessMakerUnavailableError:
        """The one line for an open breaker: the instance, the count and the last failure."""
        return ProcessMakerUnavailableError(
            f"ProcessMaker at {self.instance} looks down: {self._failures} calls in a row "
            f"failed (the last: {self._last}); calls stop for {self.cooldown:g} s. Check "
            "ProcessMaker, then run again (a sync resumes after its last stored page)"
        )


def _build(key: tuple[str, int, float]) -> CircuitBreaker:
    instance, threshold, cooldown = key
    return CircuitBreaker(_shown(instance), threshold=threshold, cooldown=cooldown)


def _shown(url: str) -> str:
    """The instance as its error names it: never a user or password written into the URL."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# One breaker per instance (and its limits) for the whole process: every task run's threads
# see the same outage.
_BREAKERS: ProcessCache[tuple[str, int, float], CircuitBreaker] = ProcessCache(_build)


def breaker_for(
    instance: str, threshold: int = DEFAULT_THRESHOLD, cooldown: float = DEFAULT_COOLDOWN
) -> CircuitBreaker:
    """The process's breaker for the ProcessMaker at ``instance`` (its base URL)."""
    return _BREAKERS.get((instance.rstrip("/"), threshold, float(cooldown)))


def reset_breakers() -> None:
    """Forget every breaker (tests, or after ProcessMaker was repaired by hand)."""
    _BREAKERS.reset()
