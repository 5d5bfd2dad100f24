"""Pools share leads by weight, skip reps who are away or at their cap, and never guess."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.policy import Pool, PoolMember
from shared.routing import PoolState, pick_pool_member
from shared.salesforce.ids import to_18

A, B, C = (to_18(f"005Pl000000000{n}") for n in "ABC")


def _pool(*members: PoolMember) -> Pool:
    return Pool(members=list(members))


def _run(pool: Pool, picks: int, state: PoolState | None = None) -> Counter[str | None]:
    """Pick repeatedly, feeding each pick back into the state as the worker would."""
    state = state or PoolState()
    counts: Counter[str | None] = Counter()
    for _ in range(picks):
        chosen = pick_pool_member(pool, state)
        counts[chosen] += 1
        if chosen is not None:
            state = state.with_pick(chosen)
    return counts


@pytest.mark.parametrize(
    "weights",
    [(1, 1, 1), (3, 2, 1), (5, 1, 1), (7, 3, 2), (1, 10, 1)],
    ids=["equal", "3-2-1", "5-1-1", "7-3-2", "1-10-1"],
)
def test_shares_follow_weights_over_10000_picks(weights: tuple[int, int, int]) -> None:
    """Each rep's share of 10,000 leads is within 2 percentage points of weight / total weight."""
    pool = _pool(*(PoolMember(id=i, weight=w) for i, w in zip((A, B, C), weights, strict=True)))
    counts = _run(pool, 10_000)
    total = sum(weights)
    for member_id, weight in zip((A, B, C), weights, strict=True):
        assert abs(counts[member_id] / 10_000 - weight / total) <= 0.02


def test_order_is_round_robin_not_bursts() -> None:
    """With equal weights reps take turns in listed order, so nobody gets a streak."""
    pool = _pool(PoolMember(id=A), PoolMember(id=B), PoolMember(id=C))
    state = PoolState()
    order = []
    for _ in range(6):
        chosen = pick_pool_member(pool, state)
        assert chosen is not None
        order.append(chosen)
        state = state.with_pick(chosen)
    assert order == [A, B, C, A, B, C]


def test_pick_is_deterministic() -> None:
    """The same pool and state give the same rep every time."""
    pool = _pool(PoolMember(id=A, weight=2), PoolMember(id=B, weight=3))
    state = PoolState(assigned_total={A: 4, B: 6})
    assert {pick_pool_member(pool, state) for _ in range(20)} == {B}


@pytest.mark.parametrize(
    ("members", "state", "expected"),
    [
        (
            [PoolMember(id=A, active=False), PoolMember(id=B)],
            PoolState(),
            B,
        ),
        (
            [PoolMember(id=A, daily_cap=2), PoolMember(id=B)],
            PoolState(assigned_total={A: 0, B: 9}, assigned_today={A: 2}),
            B,
        ),
        (
            [PoolMember(id=A, daily_cap=3), PoolMember(id=B)],
            PoolState(assigned_total={A: 0, B: 9}, assigned_today={A: 2}),
            A,
        ),
        (
            [PoolMember(id=A, daily_cap=0), PoolMember(id=B, active=False)],
            PoolState(),
            None,
        ),
        (
            [PoolMember(id=A, daily_cap=1), PoolMember(id=B, daily_cap=1)],
            PoolState(assigned_today={A: 1, B: 5}),
            None,
        ),
        (
            [PoolMember(id=A), PoolMember(id=B)],
            PoolState(assigned_total={A: 10, B: 10}),
            A,
        ),
    ],
    ids=[
        "inactive-skipped",
        "capped-skipped",
        "below-cap-eligible",
        "nobody-active-or-under-cap",
        "everyone-capped",
        "tie-goes-to-first-listed",
    ],
)
def test_availability(members: list[PoolMember], state: PoolState, expected: str | None) -> None:
    """Inactive reps and reps at their daily cap are never picked; None when nobody is left."""
    pool = Pool.model_construct(members=members)
    assert pick_pool_member(pool, state) == expected


def test_cap_stops_a_rep_for_the_day() -> None:
    """A rep with a cap of 2 gets exactly 2 leads of a day's 10; the others share the rest."""
    pool = _pool(PoolMember(id=A, weight=5, daily_cap=2), PoolMember(id=B), PoolMember(id=C))
    counts = _run(pool, 10)
    assert counts[A] == 2
    assert counts[B] + counts[C] == 8


def test_with_pick_counts_total_and_today() -> None:
    """Recording a pick increments both counters of that rep only, leaving the old state alone."""
    before = PoolState(assigned_total={A: 3}, assigned_today={A: 1})
    after = before.with_pick(A).with_pick(B)
    assert after.assigned_total == {A: 4, B: 1}
    assert after.assigned_today == {A: 2, B: 1}
    assert before.assigned_total == {A: 3}
