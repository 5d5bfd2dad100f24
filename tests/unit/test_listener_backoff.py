"""Reconnect delays grow exponentially to a cap, with full jitter, and reset after success."""

from __future__ import annotations

import pytest

from listener.backoff import Backoff, backoff_ceiling


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 1.0), (1, 2.0), (3, 8.0), (6, 60.0), (500, 60.0)],
    ids=["first", "second", "fourth", "capped", "far-past-cap"],
)
def test_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    """base * 2**attempt, never above the cap."""
    assert backoff_ceiling(attempt, base=1.0, cap=60.0) == ceiling


def test_delays_are_jittered_below_the_ceiling_and_reset() -> None:
    """Each delay is rand * ceiling; reset starts again from the base."""
    backoff = Backoff(base=1.0, cap=60.0, rand=lambda: 0.5)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_full_jitter_can_be_zero() -> None:
    """Full jitter draws from [0, ceiling], so a fleet spreads out its reconnects."""
    assert Backoff(base=1.0, cap=60.0, rand=lambda: 0.0).next_delay() == 0.0
