"""One change event's way through the listener: decode, normalize, dispatch, recover, enqueue.

`Pipeline.process` handles a raw Pub/Sub event; `Pipeline.dispatch` takes over from normalized
changes (CometD events arrive already decoded). It returns only when every message of the event
is in Redis, so the caller may then count the event as enqueued for its checkpoint. Failures:

- a DecodeError (bad Avro, unknown schema id, no header, a bitmap that does not fit) puts the
  raw event in the dead-letter stream with the reason and counts as handled: the checkpoint
  moves past it, and the dead letter keeps it;
- a gap or overflow event is recovered inline (`listener.recovery`); a permanent error while
  recovering dead-letters the gap event, a retryable one propagates;
- a failed enqueue propagates (QueuePublishError): the caller reconnects from its checkpoint
  and the event comes again.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from listener.decode import DecodeError, EventDecoder
from listener.dispatch import Drop, reconcile_lost_replay, route
from listener.metrics import ListenerMetrics
from listener.normalize import NormalizedChange, normalize
from listener.recovery import RecoveredRecord, Recovery
from shared.dead_letter import DeadLetterSource
from shared.errors import PermanentError
from shared.messages import QueueMessage, ReconcileMessage, RereadMessage
from shared.queue_producer import Producer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A change event as the stream delivered it: schema id, Avro payload, replay id."""

    schema_id: str
    payload: bytes
    replay_id: bytes
    event_id: str = ""


class DeadLetterSink(Protocol):
    """Where undecodable events go (shared.dead_letter.DeadLetterStream)."""

    def add(
        self,
        source: DeadLetterSource,
        reason: str,
        payload: bytes | str | dict[str, Any],
        *,
        task: str | None = None,
        attempts: int = 1,
        first_seen: datetime,
        last_seen: datetime | None = None,
    ) -> str:
        """Store a payload and why it failed; returns the entry id."""
        ...


@dataclass
class EventOutcome:
    """What one event gave: messages enqueued, changes dropped by reason, dead letters."""

    dispatched: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    change_type: str = ""

    def add(self, other: EventOutcome) -> None:
        """Fold another outcome into this one."""
        self.dispatched += other.dispatched
        self.dropped.update(other.dropped)
        self.dead_lettered += other.dead_lettered


class Pipeline:
    """Turns change events into enqueued queue messages; shared by every topic's thread."""

    def __init__(
        self,
        *,
        decoder: EventDecoder,
        producer: Producer,
        dead_letters: DeadLetterSink,
        recovery: Recovery | None,
        metrics: ListenerMetrics,
        own_client: str,
        overflow_margin: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._decoder = decoder
        self._producer = producer
        self._dead_letters = dead_letters
        self._recovery = recovery
        self._metrics = metrics
        self._own_client = own_client
        self._overflow_margin = overflow_margin
        self._clock = clock

    @property
    def decoder(self) -> EventDecoder:
        """The schema-caching decoder (the subscriber warms it with each topic's schema)."""
        return self._decoder

    def process(self, topic: str, event: RawEvent) -> EventOutcome:
        """Decode one raw event and enqueue what it gives; dead-letter it if it cannot decode."""
        try:
            decoded = self._decoder.decode(event.schema_id, event.payload)
            changes = normalize(
                decoded.payload, decoded.schema, topic=topic, replay_id=event.replay_id
            )
        except DecodeError as exc:
            self._metrics.decode_errors.labels(topic).inc()
            self._metrics.events_received.labels(topic, "UNDECODABLE").inc()
            self._dead_letter_event(topic, event, exc.reason)
            return EventOutcome(dead_lettered=1, change_type="UNDECODABLE")
        return self.dispatch(topic, changes)

    def dispatch(self, topic: str, changes: Sequence[NormalizedChange]) -> EventOutcome:
        """Route the changes of one event and enqueue their messages (recovering gaps inline)."""
        outcome = EventOutcome(change_type=changes[0].change_type if changes else "")
        if changes:
            self._metrics.events_received.labels(topic, outcome.change_type).inc()
        for change in changes:
            routed = route(
                change, own_client=self._own_client, overflow_margin=self._overflow_margin
            )
            if isinstance(routed, Drop):
                outcome.dropped[routed.reason.value] += 1
                self._metrics.changes_dropped.labels(
                    topic, change.change_type, routed.reason.value
                ).inc()
                continue
            for message in routed:
                outcome.add(self._deliver(topic, change.change_type, message))
        return outcome

    def reconcile_lost_position(
        self, topic: str, *, replay_id: bytes, since: datetime
    ) -> EventOutcome:
        """Recover a topic whose stored replay id can no longer be replayed: its window to now."""
        outcome = EventOutcome(change_type="REPLAY_LOST")
        until = self._clock()
        for message in reconcile_lost_replay(
            topic, replay_id=replay_id, since=min(since, until), until=until
        ):
            outcome.add(self._deliver(topic, "REPLAY_LOST", message))
        return outcome

    def _deliver(self, topic: str, change_type: str, message: QueueMessage) -> EventOutcome:
        if self._recovery is not None and isinstance(message, RereadMessage | ReconcileMessage):
            return self._recover(topic, change_type, message)
        self._enqueue(topic, change_type, message)
        return EventOutcome(dispatched=1)

    def _recover(
        self, topic: str, change_type: str, message: RereadMessage | ReconcileMessage
    ) -> EventOutcome:
        assert self._recovery is not None
        kind = "reread" if isinstance(message, RereadMessage) else "reconcile"
        self._metrics.recoveries.labels(message.entity, kind).inc()
        outcome = EventOutcome()
        try:
            if isinstance(message, RereadMessage):
                recovered: list[RecoveredRecord] = self._recovery.reread(message)
            else:
                recovered = self._recovery.reconcile(message)
        except PermanentError as exc:
            # Retrying the same read cannot succeed; the dead letter keeps the gap for a person.
            log.error(
                "recovery failed permanently",
                extra={"topic": topic, "event_id": message.event_id, "error": str(exc)},
            )
            self._dead_letters.add(
                "listener",
                f"{kind} failed: {exc}",
                message.model_dump(mode="json"),
                task=message.task_name.value,
                first_seen=self._clock(),
            )
            outcome.dead_lettered += 1
            return outcome
        outcome.add(self.enqueue_recovered(topic, change_type, recovered))
        log.info(
            "recovery",
            extra={
                "topic": topic,
                "kind": kind,
                "entity": message.entity,
                "event_id": message.event_id,
                "records": len(recovered),
                "dispatched": outcome.dispatched,
            },
        )
        return outcome

    def enqueue_recovered(
        self, topic: str, change_type: str, recovered: Sequence[RecoveredRecord]
    ) -> EventOutcome:
        """Enqueue the messages of records read back (recovery, polling); count the drops."""
        outcome = EventOutcome(change_type=change_type)
        for record in recovered:
            if isinstance(record.outcome, Drop):
                reason = record.outcome.reason.value
                outcome.dropped[reason] += 1
                self._metrics.changes_dropped.labels(topic, change_type, reason).inc()
                continue
            self._enqueue(topic, change_type, record.outcome)
            outcome.dispatched += 1
        return outcome

    def _enqueue(self, topic: str, change_type: str, message: QueueMessage) -> None:
        started = time.perf_counter()
        self._producer.send(message)
        self._metrics.enqueue_latency.observe(time.perf_counter() - started)
        self._metrics.messages_dispatched.labels(topic, change_type, message.queue.value).inc()

    def _dead_letter_event(self, topic: str, event: RawEvent, reason: str) -> None:
        log.warning(
            "undecodable event dead-lettered",
            extra={"topic": topic, "replay_id": event.replay_id.hex(), "reason": reason},
        )
        self._dead_letters.add(
            "listener",
            reason,
            {
                "topic": topic,
                "replay_id": event.replay_id.hex(),
                "schema_id": event.schema_id,
                "event_id": event.event_id,
                "payload_base64": base64.b64encode(event.payload).decode("ascii"),
            },
            first_seen=self._clock(),
        )
