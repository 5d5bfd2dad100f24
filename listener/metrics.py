"""What the listener counts and knows about its streams, for /metrics and /readyz.

Each listener owns a private Prometheus registry (no process-global state, so tests and several
listeners in one process do not collide). Stream state (connected, last activity, last commit)
lives in `StreamStatus`, one per topic; the checkpoint age and connection gauges are computed
from it at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Enqueue latency is one Redis LPUSH: sub-millisecond to a few hundred ms when Redis struggles.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class StreamStatus:
    """One subscription's live state; times are `time.monotonic()` seconds."""

    topic: str
    connected: bool = False
    last_activity: float | None = None
    last_commit: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark_connected(self, connected: bool) -> None:
        """The stream opened (True) or ended (False)."""
        with self._lock:
            self.connected = connected

    def mark_activity(self, at: float) -> None:
        """An event or a keepalive arrived."""
        with self._lock:
            self.last_activity = at

    def mark_commit(self, at: float) -> None:
        """A checkpoint was stored."""
        with self._lock:
            self.last_commit = at

    def snapshot(self) -> tuple[bool, float | None, float | None]:
        """(connected, last_activity, last_commit) read together."""
        with self._lock:
            return self.connected, self.last_activity, self.last_commit


class _StreamCollector(Collector):
    """Gauges computed from the stream statuses when scraped."""

    def __init__(self, statuses: Callable[[], Iterable[StreamStatus]], clock: Callable[[], float]):
        self._statuses = statuses
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        connected = GaugeMetricFamily(
            "leadfleet_listener_stream_connected",
            "1 while the topic's subscription is open.",
            labels=["topic"],
        )
        age = GaugeMetricFamily(
            "leadfleet_listener_checkpoint_age_seconds",
            "Seconds since the topic's replay checkpoint was last stored.",
            labels=["topic"],
        )
        idle = GaugeMetricFamily(
            "leadfleet_listener_last_activity_age_seconds",
            "Seconds since the topic's last event or keepalive.",
            labels=["topic"],
        )
        now = self._clock()
        for status in self._statuses():
            is_connected, last_activity, last_commit = status.snapshot()
            connected.add_metric([status.topic], 1.0 if is_connected else 0.0)
            if last_commit is not None:
                age.add_metric([status.topic], max(0.0, now - last_commit))
            if last_activity is not None:
                idle.add_metric([status.topic], max(0.0, now - last_activity))
        yield connected
        yield age
        yield idle


class ListenerMetrics:
    """The listener's counters, histogram and per-topic stream statuses."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._statuses: dict[str, StreamStatus] = {}
        self._lock = threading.Lock()
        self.events_received = Counter(
            "leadfleet_listener_events_received",
            "Change events received, by topic and change type.",
            ["topic", "change_type"],
            registry=self.registry,
        )
        self.messages_dispatched = Counter(
            "leadfleet_listener_messages_dispatched",
            "Queue messages enqueued, by topic, change type and queue.",
            ["topic", "change_type", "queue"],
            registry=self.registry,
        )
        self.changes_dropped = Counter(
            "leadfleet_listener_changes_dropped",
            "Changes that gave no queue message, by topic, change type and reason.",
            ["topic", "change_type", "reason"],
            registry=self.registry,
        )
        self.decode_errors = Counter(
            "leadfleet_listener_decode_errors",
            "Events that could not be decoded and went to the dead-letter stream, by topic.",
            ["topic"],
            registry=self.registry,
        )
        self.reconnects = Counter(
            "leadfleet_listener_reconnects",
            "Subscriptions re-opened after an error or a closed stream, by topic and reason.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.recoveries = Counter(
            "leadfleet_listener_recoveries",
            "Gap re-reads and reconciliations run, by entity and kind.",
            ["entity", "kind"],
            registry=self.registry,
        )
        self.enqueue_latency = Histogram(
            "leadfleet_listener_enqueue_latency_seconds",
            "Time to put one queue message into Redis.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StreamCollector(self.statuses, clock))

    def status(self, topic: str) -> StreamStatus:
        """The topic's stream status, created on first use."""
        with self._lock:
            status = self._statuses.get(topic)
            if status is None:
                status = self._statuses[topic] = StreamStatus(topic)
            return status

    def statuses(self) -> list[StreamStatus]:
        """Every topic's status."""
        with self._lock:
            return list(self._statuses.values())

    def render(self) -> bytes:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry)
