"""Faults of the simulated Messages API: latency, error answers and malformed answers.

Kinds: latency (fixed ms or [lo, hi]), rate_limit (429 rate_limit_error with retry-after),
overloaded (529 overloaded_error), api_error (500 api_error), text_only (the model answers in text
without the tool) and out_of_enum (a tool value outside its enum). Each fault has a probability
and an optional count; every matching request counts against the count whether it fires or not.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from simulator.faults import parse_latency

FAULT_KINDS = ("latency", "rate_limit", "overloaded", "api_error", "text_only", "out_of_enum")
# Status, error type and message of the kinds that answer with an error, as Anthropic words them.
ERROR_ANSWERS = {
    "rate_limit": (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your rate limit.",
    ),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "api_error": (500, "api_error", "Internal server error"),
}


@dataclass
class AnthropicFault:
    """A fault applied to POST /v1/messages requests."""

    id: int
    kind: str
    probability: float = 1.0
    count: int | None = None
    latency_ms: tuple[float, float] | None = None
    retry_after: float = 1.0
    matched: int = 0
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        """The fault as the admin API shows it."""
        data = asdict(self)
        data["latency_ms"] = list(self.latency_ms) if self.latency_ms else None
        return data


class AnthropicFaults:
    """The installed faults and the seeded random source that decides probabilistic ones."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._faults: list[AnthropicFault] = []
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        *,
        probability: float = 1.0,
        count: int | None = None,
        latency_ms: object = None,
        retry_after: float = 1.0,
    ) -> AnthropicFault:
        """Install a fault; ValueError for an unknown kind or bad numbers."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {list(FAULT_KINDS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if count is not None and count < 0:
            raise ValueError("count must not be negative")
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        latency = parse_latency(latency_ms)
        if kind == "latency" and latency is None:
            raise ValueError("a latency fault needs latency_ms")
        with self._lock:
            fault = AnthropicFault(
                next(self._ids), kind, probability, count, latency, float(retry_after)
            )
            self._faults.append(fault)
        return fault

    def rules(self) -> list[AnthropicFault]:
        """The installed faults, in the order they are tried."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Remove every fault and restart the random source."""
        with self._lock:
            self._faults.clear()
            self._rng = random.Random(self._seed)

    def fire(self) -> tuple[float, list[AnthropicFault]]:
        """The delay in seconds and the faults that fire for one request (each counted)."""
        delay, fired = 0.0, []
        with self._lock:
            for fault in self._faults:
                if fault.count == 0:
                    continue
                fault.matched += 1
                if fault.count is not None:
                    fault.count -= 1
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                fired.append(fault)
                if fault.latency_ms:
                    delay += self._rng.uniform(*fault.latency_ms) / 1000.0
        return delay, fired
