"""The checkpoint only moves past events whose messages are all enqueued, whatever the ack order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listener.replay_store import CheckpointTracker


def rid(n: int) -> bytes:
    """A 10-byte replay id as Salesforce sends them."""
    return n.to_bytes(8, "big") + b"\x00\x00"


def test_out_of_order_acks_hold_the_checkpoint_at_the_first_gap() -> None:
    """Events 2 and 3 enqueued before 1: nothing is safe until 1 is, then all three are."""
    tracker = CheckpointTracker()
    for n in (1, 2, 3, 4):
        tracker.received(rid(n))

    tracker.enqueued(rid(2))
    tracker.enqueued(rid(3))
    assert tracker.take() is None

    tracker.enqueued(rid(1))
    assert tracker.take() == rid(3)
    assert tracker.take() is None
    assert tracker.outstanding == 1


def test_resume_point_is_kept_until_something_newer_is_safe() -> None:
    """After a restart the stored id stays the checkpoint until a new event is enqueued."""
    tracker = CheckpointTracker(start=rid(7))
    tracker.received(rid(8))
    assert tracker.safe == rid(7)
    assert tracker.take() is None
    tracker.enqueued(rid(8))
    assert tracker.take() == rid(8)


def test_keepalive_is_committed_when_nothing_is_outstanding() -> None:
    """An idle stream still moves its checkpoint to the keepalive's latest replay id."""
    tracker = CheckpointTracker(start=rid(1))
    tracker.keepalive(rid(50))
    assert tracker.take() == rid(50)


def test_keepalive_waits_for_the_events_that_arrived_before_it() -> None:
    """A keepalive behind an outstanding event becomes safe only once that event is enqueued."""
    tracker = CheckpointTracker()
    tracker.received(rid(1))
    tracker.keepalive(rid(60))
    tracker.received(rid(61))
    assert tracker.take() is None

    tracker.enqueued(rid(1))
    assert tracker.take() == rid(60)
    tracker.enqueued(rid(61))
    assert tracker.take() == rid(61)


def test_empty_keepalive_id_is_ignored() -> None:
    """A keepalive without a replay id cannot become a checkpoint."""
    tracker = CheckpointTracker(start=rid(3))
    tracker.keepalive(b"")
    assert tracker.take() is None
    assert tracker.safe == rid(3)


@pytest.mark.parametrize(
    ("setup", "bad"),
    [((1,), 2), ((), 1)],
    ids=["ack-of-unknown-event", "ack-with-nothing-outstanding"],
)
def test_ack_of_an_event_not_outstanding_is_refused(setup: tuple[int, ...], bad: int) -> None:
    """Acknowledging an event that never arrived would move the checkpoint wrongly."""
    tracker = CheckpointTracker()
    for n in setup:
        tracker.received(rid(n))
    with pytest.raises(ValueError, match="not outstanding"):
        tracker.enqueued(rid(bad))


def test_same_event_twice_while_outstanding_is_refused() -> None:
    """A duplicate arrival would make one ack count for two events."""
    tracker = CheckpointTracker()
    tracker.received(rid(1))
    with pytest.raises(ValueError, match="already outstanding"):
        tracker.received(rid(1))


@st.composite
def _arrivals_and_acks(draw: st.DrawFn) -> tuple[list[tuple[str, int]], list[int]]:
    """A stream of events and keepalives in arrival order, and the events' acks in any order."""
    kinds = draw(st.lists(st.sampled_from(["event", "event", "keepalive"]), max_size=40))
    arrivals = [(kind, n) for n, kind in enumerate(kinds, start=1)]
    events = [n for kind, n in arrivals if kind == "event"]
    acks = draw(st.permutations(events))
    return arrivals, list(acks)


@given(_arrivals_and_acks())
def test_checkpoint_never_passes_an_event_that_is_not_enqueued(
    case: tuple[list[tuple[str, int]], list[int]],
) -> None:
    """After every ack the checkpoint is the last arrival of the longest fully enqueued prefix."""
    arrivals, acks = case
    tracker = CheckpointTracker()
    for kind, n in arrivals:
        if kind == "event":
            tracker.received(rid(n))
        else:
            tracker.keepalive(rid(n))
    done: set[int] = set()
    for ack in acks:
        tracker.enqueued(rid(ack))
        done.add(ack)
        prefix_end = None
        for kind, n in arrivals:
            if kind == "event" and n not in done:
                break
            prefix_end = n
        assert tracker.safe == (None if prefix_end is None else rid(prefix_end))
    assert tracker.outstanding == 0
