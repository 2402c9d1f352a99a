"""What to inject, and when: the fault settings and the seeded decisions behind them.

Faults are set with ``POST /_sandbox/faults`` (see ``sandbox.control``) and applied by
``sandbox.fault_middleware``. Random faults draw once per call from an RNG restarted from
``seed`` (default: the sandbox's ``--seed``) at every ``POST``, so a sequential client sees the
same faults on every run; ``fail_next``/``drop_next`` are exact counters.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["Fault", "FaultSettings", "Faults"]

# The random kinds, in the order the one draw per call walks them.
_RATES = ("drop_rate", "rate_limit_rate", "error_rate", "html_rate", "truncate_rate",
          "envelope_rate")  # fmt: skip


@dataclass
class FaultSettings:
    """What ``POST /_sandbox/faults`` accepts; every field defaults to "no fault".

    Rates are fractions of calls (0..1, adding up to at most 1). ``list_only`` restricts the
    API faults (random and ``*_next``) to list calls: GET on a collection route such as
    ``/requests`` or ``/collections/{id}/records``. ``down`` fails every API and token call.
    ``total_low``/``total_high`` make every list answer's ``meta.total`` (and ``last_page``)
    that many rows lower (at least 0) or higher than the rows it counts, as a count taken
    apart from the page (a count/select race, a caching proxy) can be.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    html_rate: float = 0.0
    truncate_rate: float = 0.0
    envelope_rate: float = 0.0
    list_only: bool = False
    down: bool = False
    seed: int | None = None
    churn: int = 0
    churn_new: int = 0
    token_error_rate: float = 0.0
    fail_next: int = 0
    fail_status: int = 503
    drop_next: int = 0
    token_fail_next: int = 0
    total_low: int = 0
    total_high: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FaultSettings:
        """Build settings from a JSON object; unknown keys or bad types raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        settings = cls()
        for name, value in body.items():
            setattr(settings, name, _checked(name, getattr(settings, name), value))
        if sum(getattr(settings, rate) for rate in _RATES) > 1:
            raise ValueError(f"{', '.join(_RATES)} must add up to at most 1")
        return settings


def _checked(name: str, default: object, value: object) -> object:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
            raise ValueError(f"{name} must be a list of integers")
    elif isinstance(default, float):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number between 0 and 1")
        value = float(value)
    elif name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be an integer or null")
    elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value


@dataclass(frozen=True)
class Fault:
    """One decided fault: ``kind`` is drop, status, html, truncate or envelope.

    ``label`` is its counter in ``/_sandbox/stats`` ``injected`` (e.g. ``error_503``,
    ``rate_limit``, ``down``); ``status`` is set for the status kind.
    """

    kind: str
    label: str
    status: int = 0


def _status(status: int, label: str | None = None) -> Fault:
    return Fault("status", label or ("rate_limit" if status == 429 else f"error_{status}"), status)


class Faults:
    """The current fault settings, shared by the middleware and the control routes."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._default_seed = seed
        self._rng = random.Random(seed)
        self.settings = FaultSettings()

    @property
    def churn(self) -> int:
        return self.settings.churn

    @property
    def churn_new(self) -> int:
        return self.settings.churn_new

    def set(self, settings: FaultSettings) -> None:
        """Replace the settings and restart the RNG from their seed."""
        with self._lock:
            self.settings = settings
            self._rng = random.Random(
                self._default_seed if settings.seed is None else settings.seed
            )

    def clear(self) -> None:
        self.set(FaultSettings())

    def snapshot(self) -> dict[str, Any]:
        return asdict(self.settings)

    def decide_api(self, is_list: bool) -> Fault | None:
        """The fault for the next /api/1.0 call, or None."""
        with self._lock:
            s = self.settings
            if s.down:
                return _status(s.fail_status, "down")
            if s.list_only and not is_list:
                return None
            if s.drop_next > 0:
                s.drop_next -= 1
                return Fault("drop", "drop")
            if s.fail_next > 0:
                s.fail_next -= 1
                return _status(s.fail_status)
            draw = self._rng.random()  # one draw per call, whatever is set: reproducible
            for rate in _RATES:
                chance: float = getattr(s, rate)
                if draw < chance:
                    return self._fault(rate, is_list)
                draw -= chance
            return None

    def _fault(self, rate: str, is_list: bool) -> Fault | None:
        s = self.settings
        if rate == "drop_rate":
            return Fault("drop", "drop")
        if rate == "rate_limit_rate":
            return _status(429)
        if rate == "error_rate":
            return _status(self._rng.choice(s.error_statuses or [500]))
        if rate == "html_rate":
            return Fault("html", "html")
        if rate == "truncate_rate":
            return Fault("truncate", "truncate")
        # Only a list has an envelope; elsewhere the draw injects nothing.
        missing = self._rng.choice(["data", "meta"])
        return Fault("envelope", f"envelope_missing_{missing}") if is_list else None

    def decide_token(self) -> Fault | None:
        """The fault for the next POST /oauth/token, or None."""
        with self._lock:
            s = self.settings
            if s.down:
                return _status(s.fail_status, "down")
            if s.token_fail_next > 0:
                s.token_fail_next -= 1
                return _status(s.fail_status, f"token_error_{s.fail_status}")
            if s.token_error_rate and self._rng.random() < s.token_error_rate:
                status = self._rng.choice(s.error_statuses or [500])
                return _status(status, f"token_error_{status}")
            return None
