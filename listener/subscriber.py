"""One topic's Pub/Sub subscription: the Subscribe loop, flow control, checkpoints, reconnects.

Each topic runs in its own thread:

1. Where to start: CUSTOM after the stored checkpoint; the configured initial preset (LATEST)
   when none is stored; LATEST plus a reconciliation of the lost window when the checkpoint is
   older than the retention or the server said the replay id is corrupted or invalid.
2. GetTopic (must allow subscribing) and GetSchema for the topic's schema, cached by id.
3. Subscribe, asking for ``batch_size`` events, and after every response that carried events
   asking again for what keeps the events owed at ``batch_size`` (never more than 100).
4. Each event goes through the pipeline; the checkpoint is stored once every event up to it is
   in Redis. A keepalive (no events) carries the server's latest replay id, stored as the
   checkpoint when nothing is outstanding.
5. Errors end the stream: an auth error drops the token first; any error reconnects after a
   capped exponential backoff with full jitter (reset once a stream delivered something).
6. `stop()` lets the current batch finish and be committed, then closes the stream.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import grpc

from listener.backoff import Backoff
from listener.connection import (
    PubSubConnection,
    StreamErrorKind,
    SubscribeCall,
    classify_stream_error,
    details_of,
    error_code_of,
    status_of,
)
from listener.decode import DecodeError
from listener.metrics import ListenerMetrics
from listener.pipeline import EventOutcome, Pipeline, RawEvent
from listener.replay_store import Checkpoint, CheckpointTracker
from shared.errors import LeadfleetError, RetryableError
from shared.pubsub import pubsub_api_pb2 as pb2

log = logging.getLogger(__name__)

MAX_OUTSTANDING = 100
InitialPreset = Literal["LATEST", "EARLIEST"]


class CheckpointStore(Protocol):
    """Where checkpoints are kept (listener.replay_store.ReplayStore)."""

    def checkpoint(self, topic: str) -> Checkpoint | None:
        """The stored checkpoint, or None."""
        ...

    def commit(self, topic: str, replay_id: bytes, *, committed_at: datetime | None = None) -> None:
        """Store the replay id to resume after."""
        ...


class FlowControl:
    """Events requested and not yet received, counted on this side of the stream.

    The server's pending_num_requested lags behind requests still in flight, so topping up
    from it could ask for more than the batch; our own count never does.
    """

    def __init__(self, batch_size: int) -> None:
        if not 1 <= batch_size <= MAX_OUTSTANDING:
            raise ValueError(f"batch_size must be 1..{MAX_OUTSTANDING}, got {batch_size}")
        self.batch_size = batch_size
        self.owed = 0

    def initial(self) -> int:
        """num_requested for the first FetchRequest."""
        self.owed = self.batch_size
        return self.batch_size

    def received(self, count: int) -> int:
        """Events arrived: the num_requested that tops the owed count back up (0: ask nothing)."""
        self.owed = max(0, self.owed - count)
        top_up = self.batch_size - self.owed
        self.owed += top_up
        return top_up


@dataclass(frozen=True, slots=True)
class StartPosition:
    """Where a Subscribe starts."""

    preset: int
    replay_id: bytes = b""

    @property
    def label(self) -> str:
        """LATEST, EARLIEST or CUSTOM, for logs."""
        return str(pb2.ReplayPreset.Name(self.preset))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SubscriberSettings:
    """What a topic subscriber is told by ListenerSettings."""

    batch_size: int = MAX_OUTSTANDING
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0
    retention: timedelta = timedelta(hours=72)
    initial_preset: InitialPreset = "LATEST"


class _Requests:
    """The FetchRequests a Subscribe call reads, fed from the subscriber's thread."""

    _CLOSE = object()

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()

    def put(self, request: pb2.FetchRequest) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(self._CLOSE)

    def __iter__(self) -> Iterator[pb2.FetchRequest]:
        while True:
            item = self._queue.get()
            if item is self._CLOSE:
                return
            assert isinstance(item, pb2.FetchRequest)
            yield item


class TopicSubscriber:
    """Keeps one topic subscribed until stopped; run `run` in a thread of its own."""

    def __init__(
        self,
        topic: str,
        *,
        pubsub: PubSubConnection,
        pipeline: Pipeline,
        checkpoints: CheckpointStore,
        metrics: ListenerMetrics,
        settings: SubscriberSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
    ) -> None:
        self.topic = topic
        self._pubsub = pubsub
        self._pipeline = pipeline
        self._checkpoints = checkpoints
        self._metrics = metrics
        self._status = metrics.status(topic)
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._backoff = backoff or Backoff(
            settings.backoff_base_seconds, settings.backoff_cap_seconds
        )
        self._stopping = threading.Event()
        self._call: SubscribeCall | None = None
        self._call_lock = threading.Lock()
        self._lost: Checkpoint | None = None

    def stop(self) -> None:
        """Finish the batch in hand, commit it and close the stream."""
        self._stopping.set()
        with self._call_lock:
            if self._call is not None:
                self._call.cancel()

    @property
    def stopping(self) -> bool:
        """True once stop() was called."""
        return self._stopping.is_set()

    def run(self) -> None:
        """Subscribe, and subscribe again after every failure, until stopped."""
        while not self._stopping.is_set():
            delivered = False
            reason = "closed"
            try:
                delivered = self._run_stream()
            except grpc.RpcError as exc:
                if self._stopping.is_set():
                    break
                reason = self._on_rpc_error(exc)
            except (LeadfleetError, OSError) as exc:
                reason = "retryable" if _retryable(exc) else "error"
                log.warning(
                    "stream failed",
                    extra={"topic": self.topic, "error": f"{type(exc).__name__}: {exc}"},
                )
            except Exception:
                # A bug in one event must not stop the listener for good; it reconnects from
                # the checkpoint and the dead letters and logs say what happened.
                reason = "error"
                log.exception("stream failed unexpectedly", extra={"topic": self.topic})
            finally:
                self._status.mark_connected(False)
                with self._call_lock:
                    self._call = None
            if self._stopping.is_set():
                break
            if delivered:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            self._metrics.reconnects.labels(self.topic, reason).inc()
            log.info(
                "reconnecting",
                extra={"topic": self.topic, "reason": reason, "delay_s": round(delay, 3)},
            )
            self._stopping.wait(delay)
        log.info("subscriber stopped", extra={"topic": self.topic})

    def start_position(self) -> StartPosition:
        """Where the next Subscribe starts (and whether a lost window must be reconciled)."""
        if self._lost is not None:
            return StartPosition(pb2.LATEST)
        checkpoint = self._checkpoints.checkpoint(self.topic)
        if checkpoint is None:
            preset = pb2.EARLIEST if self._settings.initial_preset == "EARLIEST" else pb2.LATEST
            return StartPosition(preset)
        if self._clock() - checkpoint.committed_at > self._settings.retention:
            log.warning(
                "checkpoint older than the retention; reconciling",
                extra={"topic": self.topic, "committed_at": checkpoint.committed_at.isoformat()},
            )
            self._lost = checkpoint
            return StartPosition(pb2.LATEST)
        return StartPosition(pb2.CUSTOM, checkpoint.replay_id)

    def _on_rpc_error(self, exc: grpc.RpcError) -> str:
        status = status_of(exc)
        error_code = error_code_of(exc)
        kind = classify_stream_error(status, error_code)
        log.warning(
            "stream error",
            extra={
                "topic": self.topic,
                "status": status.name if status else None,
                "error_code": error_code,
                "details": details_of(exc),
                "kind": kind.value,
            },
        )
        if kind == StreamErrorKind.REPLAY_INVALID:
            checkpoint = self._checkpoints.checkpoint(self.topic)
            self._lost = checkpoint or Checkpoint(b"", self._clock() - self._settings.retention)
        elif kind == StreamErrorKind.AUTH:
            self._pubsub.reauthenticate()
        return kind.value

    def _run_stream(self) -> bool:
        """One Subscribe call; True when the server sent anything before it ended."""
        position = self.start_position()
        info = self._pubsub.get_topic(self.topic)
        if not info.can_subscribe:
            raise PermissionError(f"topic {self.topic} does not allow subscribing")
        if info.schema_id:
            try:
                self._pipeline.decoder.schema(info.schema_id)
            except DecodeError as exc:
                # Events carry their own schema ids; a bad topic schema only matters if used.
                log.warning(
                    "topic schema unusable", extra={"topic": self.topic, "reason": exc.reason}
                )
        flow = FlowControl(self._settings.batch_size)
        requests = _Requests()
        requests.put(
            pb2.FetchRequest(
                topic_name=self.topic,
                replay_preset=position.preset,  # type: ignore[arg-type]
                replay_id=position.replay_id,
                num_requested=flow.initial(),
            )
        )
        tracker = CheckpointTracker(position.replay_id or None)
        delivered = False
        call = self._pubsub.subscribe(iter(requests))
        with self._call_lock:
            self._call = call
        if self._stopping.is_set():
            call.cancel()
        self._status.mark_connected(True)
        log.info(
            "subscribed",
            extra={
                "topic": self.topic,
                "preset": position.label,
                "replay_id": position.replay_id.hex(),
            },
        )
        try:
            for response in call:
                delivered = True
                self._status.mark_activity(self._monotonic())
                if self._lost is not None:
                    self._reconcile_lost(self._lost)
                self._handle(response, tracker, flow, requests)
                if self._stopping.is_set():
                    break
        finally:
            requests.close()
            call.cancel()
        return delivered

    def _handle(
        self,
        response: pb2.FetchResponse,
        tracker: CheckpointTracker,
        flow: FlowControl,
        requests: _Requests,
    ) -> None:
        if not response.events:
            tracker.keepalive(bytes(response.latest_replay_id))
            self._commit(tracker)
            return
        started = time.perf_counter()
        events = [
            RawEvent(
                schema_id=event.event.schema_id,
                payload=bytes(event.event.payload),
                replay_id=bytes(event.replay_id),
                event_id=event.event.id,
            )
            for event in response.events
        ]
        # Asking before processing keeps the server busy while this batch is enqueued.
        top_up = flow.received(len(events))
        if top_up > 0:
            requests.put(pb2.FetchRequest(topic_name=self.topic, num_requested=top_up))
        for event in events:
            tracker.received(event.replay_id)
        total = EventOutcome()
        try:
            for event in events:
                total.add(self._pipeline.process(self.topic, event))
                tracker.enqueued(event.replay_id)
        finally:
            # On a failed enqueue this keeps what did reach Redis, so fewer events come twice.
            self._commit(tracker)
        log.info(
            "batch",
            extra={
                "topic": self.topic,
                "events": len(events),
                "dispatched": total.dispatched,
                "dropped": sum(total.dropped.values()),
                "dropped_by_reason": dict(total.dropped),
                "dead_lettered": total.dead_lettered,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "replay_id": events[-1].replay_id.hex(),
                "pending": response.pending_num_requested,
            },
        )

    def _reconcile_lost(self, lost: Checkpoint) -> None:
        outcome = self._pipeline.reconcile_lost_position(
            self.topic, replay_id=lost.replay_id, since=lost.committed_at
        )
        self._lost = None
        log.info(
            "lost replay window reconciled",
            extra={
                "topic": self.topic,
                "since": lost.committed_at.isoformat(),
                "dispatched": outcome.dispatched,
                "dropped": sum(outcome.dropped.values()),
            },
        )

    def _commit(self, tracker: CheckpointTracker) -> None:
        safe = tracker.take()
        if safe is None:
            return
        self._checkpoints.commit(self.topic, safe, committed_at=self._clock())
        self._status.mark_commit(self._monotonic())


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError | OSError)
