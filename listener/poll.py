"""Fallback mode ``--mode poll``: SOQL watermark polling when no event stream is available.

Every ``poll_interval_seconds``, for each entity the topics cover, the records whose window
field (Lead CreatedDate, Task LastModifiedDate, EmailMessage CreatedDate; see
listener.recovery) is at or after ``watermark - overlap`` are read and put through the same
rules as recovered records, giving the same queue messages as the stream would.

- The watermark per entity is the newest window timestamp seen, kept in Redis
  (``<prefix>:poll:watermark:<Entity>``), so a restart resumes where the last poll ended. With
  none stored, polling starts at now (like subscribing with LATEST).
- The overlap re-reads recent records on purpose: a record committed late with an earlier
  timestamp is still found. What the overlap re-reads is deduplicated through Redis keys
  (``<prefix>:poll:seen:<Entity>:<Id>:<timestamp>``, kept for three overlaps), marked only
  after the message is in Redis, so a crash repeats messages but never loses one.
- Polling cannot see changeOrigin: leadfleet's own writes are recognised by their author
  being the integration user (Lead CreatedById, Task LastModifiedById, EmailMessage
  CreatedById).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from redis import Redis

from listener.backoff import Backoff
from listener.dispatch import HANDLED_ENTITIES
from listener.metrics import ListenerMetrics
from listener.pipeline import Pipeline
from listener.recovery import RecoveredRecord, Recovery, iso_z, parse_datetime
from shared.errors import LeadfleetError

log = logging.getLogger(__name__)

_ENTITY_TOPIC = re.compile(r"/data/(\w+?)ChangeEvent")
ENTITY_TOPICS = {entity: f"/data/{entity}ChangeEvent" for entity in HANDLED_ENTITIES}


def polled_entities(topics: Sequence[str]) -> dict[str, str]:
    """The entities the topics cover, each with the topic its messages are labelled with."""
    entities: dict[str, str] = {}
    for topic in topics:
        match = _ENTITY_TOPIC.fullmatch(topic)
        if match is None:
            for entity in HANDLED_ENTITIES:
                entities.setdefault(entity, topic)
        elif match.group(1) in HANDLED_ENTITIES:
            entities[match.group(1)] = topic
    return entities


class PollState:
    """Watermarks and the overlap's seen-set in Redis."""

    def __init__(self, redis: Redis, prefix: str, *, seen_ttl: timedelta) -> None:
        self._redis = redis
        self._prefix = prefix
        self._seen_ttl = max(1, int(seen_ttl.total_seconds()))

    def watermark(self, entity: str) -> datetime | None:
        """The newest window timestamp handled for an entity, or None."""
        raw = self._redis.get(f"{self._prefix}:poll:watermark:{entity}")
        if raw is None:
            return None
        return parse_datetime(raw.decode() if isinstance(raw, bytes) else str(raw))

    def set_watermark(self, entity: str, value: datetime) -> None:
        """Store the entity's watermark."""
        self._redis.set(f"{self._prefix}:poll:watermark:{entity}", iso_z(value))

    def unseen(self, records: Sequence[RecoveredRecord]) -> list[RecoveredRecord]:
        """The records not handled in an earlier poll."""
        if not records:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for record in records:
            pipe.exists(self._seen_key(record))
        flags = pipe.execute()
        return [record for record, seen in zip(records, flags, strict=True) if not seen]

    def mark_seen(self, records: Sequence[RecoveredRecord]) -> None:
        """Remember records as handled for a few overlaps."""
        if not records:
            return
        pipe = self._redis.pipeline(transaction=False)
        for record in records:
            pipe.set(self._seen_key(record), "1", ex=self._seen_ttl)
        pipe.execute()

    def _seen_key(self, record: RecoveredRecord) -> str:
        return f"{self._prefix}:poll:seen:{record.entity}:{record.record_id}:{iso_z(record.stamp)}"


class Poller:
    """Polls each entity in turn until stopped."""

    def __init__(
        self,
        topics: Sequence[str],
        *,
        recovery: Recovery,
        pipeline: Pipeline,
        state: PollState,
        metrics: ListenerMetrics,
        interval: timedelta,
        overlap: timedelta,
        backoff: Backoff,
        own_user: Callable[[], str | None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entities = polled_entities(topics)
        self._own_user = own_user
        self._own_user_id: str | None = None
        self._own_user_known = False
        self._recovery = recovery
        self._pipeline = pipeline
        self._state = state
        self._metrics = metrics
        self._interval = interval
        self._overlap = overlap
        self._backoff = backoff
        self._clock = clock
        self._monotonic = monotonic
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Stop after the poll in hand."""
        self._stopping.set()

    def run(self) -> None:
        """Poll every interval; after a failure wait the backoff instead."""
        while not self._stopping.is_set():
            try:
                self.poll_once()
                self._backoff.reset()
                delay = self._interval.total_seconds()
            except (LeadfleetError, OSError) as exc:
                for topic in self._entities.values():
                    self._metrics.status(topic).mark_connected(False)
                    self._metrics.reconnects.labels(topic, type(exc).__name__).inc()
                log.warning("poll failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                delay = self._backoff.next_delay()
            self._stopping.wait(delay)

    def poll_once(self) -> int:
        """One round over every entity; returns how many messages were enqueued."""
        if not self._own_user_known:
            self._own_user_id = self._own_user()
            self._own_user_known = True
        total = 0
        for entity, topic in self._entities.items():
            if self._stopping.is_set():
                break
            total += self._poll_entity(entity, topic)
        return total

    def _poll_entity(self, entity: str, topic: str) -> int:
        started = time.perf_counter()
        now = self._clock()
        watermark = self._state.watermark(entity)
        if watermark is None:
            watermark = now
            self._state.set_watermark(entity, watermark)
        since = watermark - self._overlap
        records = self._recovery.window(
            entity, since, None, topic=topic, source="poll", own_user_id=self._own_user_id
        )
        fresh = self._state.unseen(records)
        outcome = self._pipeline.enqueue_recovered(topic, "POLL", fresh)
        self._state.mark_seen(fresh)
        # A timestamp ahead of this poll (clock skew, imported data) must not carry the
        # watermark past records that are still to come.
        newest = min(now, max((record.stamp for record in records), default=watermark))
        if newest > watermark:
            self._state.set_watermark(entity, newest)
        status = self._metrics.status(topic)
        status.mark_connected(True)
        status.mark_activity(self._monotonic())
        status.mark_commit(self._monotonic())
        if fresh:
            self._metrics.events_received.labels(topic, "POLL").inc(len(fresh))
            log.info(
                "batch",
                extra={
                    "mode": "poll",
                    "topic": topic,
                    "events": len(fresh),
                    "dispatched": outcome.dispatched,
                    "dropped": sum(outcome.dropped.values()),
                    "dropped_by_reason": dict(outcome.dropped),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "watermark": iso_z(max(newest, watermark)),
                },
            )
        return outcome.dispatched
