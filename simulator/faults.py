"""Fault injection per route pattern and method: error answers, latency, probability and counts."""

from __future__ import annotations

import fnmatch
import itertools
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator.apierrors import (
    ApiError,
    invalid_session,
    request_limit_exceeded,
    unable_to_lock_row,
)


def _http_503() -> ApiError:
    return ApiError(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable")


def _http_500() -> ApiError:
    return ApiError(
        500,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1783095341-91720 (-1432615826)",
    )


# Each error kind answers the way Salesforce does; "latency" only delays.
FAULT_KINDS: dict[str, Callable[[], ApiError] | None] = {
    "http_503": _http_503,
    "http_500": _http_500,
    "unable_to_lock_row": unable_to_lock_row,
    "request_limit_exceeded": request_limit_exceeded,
    "invalid_session_id": invalid_session,
    "latency": None,
}


@dataclass
class FaultRule:
    """Requests whose path matches `route` (a glob, or a regex after 're:') and method."""

    id: int
    route: str
    kind: str
    method: str | None = None
    probability: float = 1.0
    count: int | None = None
    latency_ms: tuple[float, float] | None = None
    matched: int = 0
    fired: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pattern = self.route[3:] if self.route.startswith("re:") else fnmatch.translate(self.route)
        self._regex = re.compile(pattern)

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule covers a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return bool(self._regex.match(path))

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        return {
            "id": self.id,
            "route": self.route,
            "kind": self.kind,
            "method": self.method,
            "probability": self.probability,
            "count": self.count,
            "latency_ms": list(self.latency_ms) if self.latency_ms else None,
            "matched": self.matched,
            "fired": self.fired,
        }


@dataclass(frozen=True)
class FaultOutcome:
    """What to do to one request: wait this long, then answer with the error if there is one."""

    delay_seconds: float = 0.0
    error: ApiError | None = None
    kinds: tuple[str, ...] = ()


def parse_latency(value: object) -> tuple[float, float] | None:
    """A fixed latency (one number) or a uniform range ([lo, hi] or {"lo","hi"}), in ms."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value), float(value))
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    elif isinstance(value, dict) and {"lo", "hi"} <= value.keys():
        lo, hi = float(value["lo"]), float(value["hi"])
    else:
        raise ValueError("latency_ms is a number, [lo, hi] or {'lo': .., 'hi': ..}")
    if lo < 0 or hi < lo:
        raise ValueError("latency_ms needs 0 <= lo <= hi")
    return (lo, hi)


class FaultInjector:
    """The active fault rules and the seeded random source that decides probabilistic ones."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        route: str,
        kind: str,
        *,
        method: str | None = None,
        probability: float = 1.0,
        count: int | None = None,
        latency_ms: object = None,
    ) -> FaultRule:
        """Install a rule; raises ValueError for an unknown kind or bad numbers."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if count is not None and count < 0:
            raise ValueError("count must be positive")
        latency = parse_latency(latency_ms)
        if kind == "latency" and latency is None:
            raise ValueError("a latency fault needs latency_ms")
        with self._lock:
            rule = FaultRule(next(self._ids), route, kind, method, probability, count, latency)
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule and restart the random source."""
        with self._lock:
            self._rules.clear()
            self._rng = random.Random(self._seed)

    def rules(self) -> list[FaultRule]:
        """The installed rules, in the order they are tried."""
        with self._lock:
            return list(self._rules)

    def outcome(self, method: str, path: str) -> FaultOutcome:
        """Decide (and count) what the active rules do to a request."""
        delay = 0.0
        error: ApiError | None = None
        kinds: list[str] = []
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path) or rule.count == 0:
                    continue
                rule.matched += 1
                if rule.count is not None:
                    rule.count -= 1
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                make = FAULT_KINDS[rule.kind]
                if make is not None and error is not None:
                    continue
                rule.fired += 1
                kinds.append(rule.kind)
                if rule.latency_ms:
                    delay += self._rng.uniform(*rule.latency_ms) / 1000.0
                if make is not None:
                    error = make()
        return FaultOutcome(delay, error, tuple(kinds))
