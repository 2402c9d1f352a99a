"""Laravel's ThrottleRequests (``throttle`` = 60 per minute) for ``POST /oauth/token``.

Laravel keys an anonymous request by ``sha1(domain|ip)``; one sandbox serves one domain, so the
client IP is the key. A window opens at the first hit and lasts ``decay`` seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

__all__ = ["Decision", "Throttle"]


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit: allowed or not, and the headers Laravel would add."""

    allowed: bool
    headers: dict[str, str]


class Throttle:
    """A fixed-window attempt counter per key, with Laravel's header semantics.

    Args:
        limit: attempts allowed per window (``config.throttle_per_minute``).
        decay: window length in seconds.
    """

    def __init__(self, limit: int, decay: int = 60) -> None:
        self.limit = limit
        self.decay = decay
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (available_at, attempts)

    def hit(self, key: str) -> Decision:
        """Count one attempt for ``key`` unless the limit is already reached."""
        # Laravel's RateLimiter works in whole seconds: the timer is an integer timestamp.
        now = int(time.time())
        with self._lock:
            available_at, attempts = self._windows.get(key, (0, 0))
            if now >= available_at:
                available_at, attempts = now + self.decay, 0
            if attempts >= self.limit:
                retry_after = available_at - now  # RateLimiter::availableIn
                return Decision(
                    False,
                    {
                        "X-RateLimit-Limit": str(self.limit),
                        "X-RateLimit-Remaining": "0",
                        "Retry-After": str(retry_after),
                        "X-RateLimit-Reset": str(now + retry_after),
                    },
                )
            self._windows[key] = (available_at, attempts + 1)
        remaining = self.limit - attempts - 1
        return Decision(
            True,
            {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(remaining)},
        )

    def reset(self) -> None:
        """Forget every window (``POST /_sandbox/reset``)."""
        with self._lock:
            self._windows.clear()
