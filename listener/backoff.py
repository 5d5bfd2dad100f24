"""Reconnect delays: capped exponential backoff with full jitter.

The n-th consecutive failure waits a random time in [0, min(cap, base * 2**n)] ("full
jitter"), so a fleet of listeners that lost Salesforce at the same moment does not reconnect
in lockstep. A stream that delivered something resets the count.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The longest wait before reconnect attempt `attempt` (0 for the first retry)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Past 2**64 the product only overflows; the cap was reached long before.
    ceiling: float = min(cap, base * 2.0 ** min(attempt, 64))
    return ceiling


def full_jitter_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """A wait drawn uniformly from [0, ceiling]; `rand` returns a float in [0, 1)."""
    return backoff_ceiling(attempt, base=base, cap=cap) * rand()


@dataclass
class Backoff:
    """Counts consecutive failures and draws the next delay."""

    base: float
    cap: float
    rand: Callable[[], float] = field(default=random.random)
    failures: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; counts one more failure."""
        delay = full_jitter_delay(self.failures, base=self.base, cap=self.cap, rand=self.rand)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Forget past failures (the connection worked)."""
        self.failures = 0
