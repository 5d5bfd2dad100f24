"""Readiness is a pure judgement of the streams and Redis; metrics render as Prometheus text."""

from __future__ import annotations

import pytest

from listener.health import assess_readiness
from listener.metrics import ListenerMetrics, StreamStatus

NOW = 1_000.0


def _status(
    connected: bool, last_activity: float | None, topic: str = "/data/LeadChangeEvent"
) -> StreamStatus:
    status = StreamStatus(topic)
    status.mark_connected(connected)
    if last_activity is not None:
        status.mark_activity(last_activity)
    return status


@pytest.mark.parametrize(
    ("statuses", "redis_ok", "failing"),
    [
        ([_status(True, NOW - 10)], True, ()),
        ([_status(True, NOW - 10)], False, ("redis: unreachable",)),
        ([_status(False, NOW - 10)], True, ("stream /data/LeadChangeEvent: not connected",)),
        ([_status(True, None)], True, ("stream /data/LeadChangeEvent: no event or keepalive yet",)),
        (
            [_status(True, NOW - 601)],
            True,
            ("stream /data/LeadChangeEvent: no event or keepalive for 601 s",),
        ),
        ([], True, ("streams: none started",)),
        (
            [_status(True, NOW - 1), _status(False, None, "/data/TaskChangeEvent")],
            True,
            ("stream /data/TaskChangeEvent: not connected",),
        ),
    ],
    ids=[
        "ready",
        "redis-down",
        "disconnected",
        "silent-since-start",
        "stale",
        "no-streams",
        "one-of-two-down",
    ],
)
def test_readiness(statuses: list[StreamStatus], redis_ok: bool, failing: tuple[str, ...]) -> None:
    """Ready only when Redis answers and every stream is open and heard from recently."""
    readiness = assess_readiness(statuses, redis_reachable=redis_ok, now=NOW, stale_after=600)
    assert readiness.failing == failing
    assert readiness.ready is (not failing)


def test_metrics_render_counts_and_checkpoint_age() -> None:
    """The exposition carries the counters by label and the checkpoint age from the clock."""
    clock = [100.0]
    metrics = ListenerMetrics(clock=lambda: clock[0])
    metrics.events_received.labels("/data/LeadChangeEvent", "CREATE").inc(3)
    metrics.changes_dropped.labels("/data/LeadChangeEvent", "CREATE", "own_echo").inc()
    metrics.status("/data/LeadChangeEvent").mark_commit(40.0)
    text = metrics.render().decode()
    assert (
        'leadfleet_listener_events_received_total{change_type="CREATE",'
        'topic="/data/LeadChangeEvent"} 3.0' in text
    )
    assert 'reason="own_echo"' in text
    assert 'leadfleet_listener_checkpoint_age_seconds{topic="/data/LeadChangeEvent"} 60.0' in text
    assert 'leadfleet_listener_stream_connected{topic="/data/LeadChangeEvent"} 0.0' in text
