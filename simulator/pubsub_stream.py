"""One Subscribe call: replay start, flow control, keepalives and the idle close.

The rules, as Salesforce's Pub/Sub API applies them:

- the first FetchRequest names the topic and the replay start (LATEST by default, EARLIEST, or
  CUSTOM right after a replay id); later requests may repeat the topic but not change it;
- each request's num_requested (> 0) adds to what is owed, at most 100 in total;
- events go out only while something is owed; each response reports `pending_num_requested`
  and `latest_replay_id` (the last event's id);
- while something is owed and no event is available, an empty response with the current
  replay id goes out every keepalive interval;
- once nothing is owed, the client has the idle timeout to ask for more; otherwise the server
  ends the call with status OK (a clean end: nothing went wrong, the client resubscribes).

Requests are read on a thread of their own and handed over through a queue, so the serving
thread alone applies them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from shared.pubsub import pubsub_api_pb2 as pb
from simulator.cdc_events import encode_payload
from simulator.cdc_schema import topic_entities
from simulator.changelog import ChangeEntry
from simulator.eventbus import EventBus, decode_replay_id, encode_replay_id
from simulator.pubsub_errors import (
    REPLAY_ID_CORRUPTED,
    REPLAY_ID_MISSING,
    REQUESTED_EVENTS_INVALID,
    TOPIC_EMPTY,
    TOPIC_MISMATCH,
    PubSubError,
    fail,
    topic_not_found,
)

MAX_OUTSTANDING = 100
# Salesforce keeps batches to about 3 MB so they pass clients' default 4 MB receive limit.
MAX_RESPONSE_BYTES = 3 * 1024 * 1024
DROPPED_MESSAGE = "Connection reset: the stream was dropped."
# How often a waiting stream looks up from the change log to notice a drop or a cancel.
WAKE_SECONDS = 0.1


@dataclass(frozen=True)
class StreamTimings:
    """How long a stream waits: between keepalives, and for a request once nothing is owed."""

    keepalive_seconds: float
    idle_timeout_seconds: float


class Subscription:
    """The requests of one Subscribe call and the signals that end it early."""

    def __init__(self) -> None:
        self._requests: deque[pb.FetchRequest] = deque()
        self._condition = threading.Condition()
        self.client_done = False
        self.closed = False
        self.dropped = False

    def consume(self, requests: Iterator[pb.FetchRequest]) -> None:
        """Queue the client's requests until it stops sending or the call ends (reader thread)."""
        try:
            for request in requests:
                with self._condition:
                    self._requests.append(request)
                    self._condition.notify_all()
        except Exception:  # noqa: S110
            # The call ended under the reader (cancelled or dropped); the server side notices.
            pass
        with self._condition:
            self.client_done = True
            self._condition.notify_all()

    def pop(self) -> pb.FetchRequest | None:
        """The oldest request not yet taken, if any."""
        with self._condition:
            return self._requests.popleft() if self._requests else None

    def take(self) -> list[pb.FetchRequest]:
        """The requests received since the last call."""
        with self._condition:
            taken = list(self._requests)
            self._requests.clear()
            return taken

    def wait(self, timeout: float) -> None:
        """Sleep until a request arrives, the call ends, or the timeout passes."""
        with self._condition:
            if not (self._requests or self.closed or self.dropped or self.client_done):
                self._condition.wait(max(timeout, 0.0))

    def close(self) -> None:
        """The call is over (client cancel, server stop)."""
        with self._condition:
            self.closed = True
            self._condition.notify_all()

    def drop(self) -> None:
        """Cut the call, as a lost connection would."""
        with self._condition:
            self.dropped = True
            self._condition.notify_all()


def _start_position(bus: EventBus, request: pb.FetchRequest) -> int | PubSubError:
    if request.replay_preset == pb.EARLIEST:
        return bus.earliest_position()
    if request.replay_preset == pb.CUSTOM:
        if not request.replay_id:
            return REPLAY_ID_MISSING
        position = decode_replay_id(request.replay_id)
        if position is None or not bus.valid_replay_position(position):
            return REPLAY_ID_CORRUPTED
        return position
    return bus.latest_position


class StreamServer:
    """Serves one Subscribe call's responses from the event bus."""

    def __init__(
        self,
        bus: EventBus,
        subscription: Subscription,
        context: grpc.ServicerContext,
        rpc_id: str,
        timings: StreamTimings,
    ) -> None:
        self._bus = bus
        self._subscription = subscription
        self._context = context
        self._rpc_id = rpc_id
        self._timings = timings
        self._topic = ""
        self._pending = 0

    def _apply(self, request: pb.FetchRequest) -> None:
        if request.topic_name and request.topic_name != self._topic:
            fail(self._context, TOPIC_MISMATCH, self._rpc_id)
        if request.num_requested <= 0:
            fail(self._context, REQUESTED_EVENTS_INVALID, self._rpc_id)
        self._pending = min(MAX_OUTSTANDING, self._pending + request.num_requested)

    def _first_request(self) -> pb.FetchRequest | None:
        deadline = time.monotonic() + self._timings.idle_timeout_seconds
        while True:
            first = self._subscription.pop()
            if first is not None:
                return first
            if self._ended() or self._subscription.client_done:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._subscription.wait(min(remaining, WAKE_SECONDS))

    def _ended(self) -> bool:
        return self._subscription.closed or self._subscription.dropped

    def _response(self, events: list[Any], latest: int) -> pb.FetchResponse:
        return pb.FetchResponse(
            events=events,
            latest_replay_id=encode_replay_id(latest),
            rpc_id=self._rpc_id,
            pending_num_requested=self._pending,
        )

    def _events(self, entries: list[ChangeEntry]) -> list[pb.ConsumerEvent]:
        """The entries as events, as many as fit one response under gRPC's 4 MB message limit."""
        events: list[pb.ConsumerEvent] = []
        size = 0
        for entry in entries:
            schema_id, payload = encode_payload(entry)
            size += len(payload)
            if events and size > MAX_RESPONSE_BYTES:
                break
            producer = pb.ProducerEvent(
                id=self._bus.event_uuid(entry), schema_id=schema_id, payload=payload
            )
            events.append(
                pb.ConsumerEvent(event=producer, replay_id=encode_replay_id(entry.position))
            )
        return events

    def serve(self) -> Iterator[pb.FetchResponse]:
        """The responses of the call, until it ends; failures end it through `fail`."""
        first = self._first_request()
        if first is None:
            return
        if not first.topic_name:
            fail(self._context, TOPIC_EMPTY, self._rpc_id)
        if topic_entities(first.topic_name) is None:
            fail(self._context, topic_not_found(first.topic_name), self._rpc_id)
        self._topic = first.topic_name
        start = _start_position(self._bus, first)
        if isinstance(start, PubSubError):
            fail(self._context, start, self._rpc_id)
        self._apply(first)
        yield from self._stream(start)

    def _stream(self, cursor: int) -> Iterator[pb.FetchResponse]:
        keepalive_due = time.monotonic() + self._timings.keepalive_seconds
        idle_deadline = 0.0
        while True:
            for request in self._subscription.take():
                self._apply(request)
            if self._subscription.dropped:
                # A lost connection reaches the client as UNAVAILABLE with no Pub/Sub error code.
                self._context.abort(grpc.StatusCode.UNAVAILABLE, DROPPED_MESSAGE)
            if self._subscription.closed:
                return
            now = time.monotonic()
            if self._pending == 0:
                if self._subscription.client_done or now >= idle_deadline:
                    return
                self._subscription.wait(min(idle_deadline - now, WAKE_SECONDS))
                continue
            entries, scanned = self._bus.read(self._topic, cursor, self._pending)
            if entries:
                events = self._events(entries)
                self._pending -= len(events)
                # Entries left out of a full response go out in the next one.
                cursor = (
                    scanned if len(events) == len(entries) else entries[len(events) - 1].position
                )
                yield self._response(events, entries[len(events) - 1].position)
                now = time.monotonic()
                keepalive_due = now + self._timings.keepalive_seconds
                idle_deadline = now + self._timings.idle_timeout_seconds
                continue
            cursor = scanned
            if now >= keepalive_due:
                yield self._response([], cursor)
                keepalive_due = time.monotonic() + self._timings.keepalive_seconds
                continue
            self._bus.wait(cursor, min(keepalive_due - now, WAKE_SECONDS))
