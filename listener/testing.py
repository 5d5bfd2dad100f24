"""Test doubles for the listener's ports, shipped with it: an in-memory Pub/Sub API and events.

`FakePubSub` keeps published change events per topic and serves Subscribe like Salesforce
does: the first FetchRequest's preset and replay id choose the start, num_requested adds to
what is owed (at most 100), empty keepalive responses carry the latest replay id while events
are owed, and errors carry the ``error-code`` trailer. It records every FetchRequest, so tests
can check flow control. `encode_change_event` writes Avro payloads under `change_event_schema`.
"""

from __future__ import annotations

import io
import json
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fastavro
import grpc

from shared.pubsub import pubsub_api_pb2 as pb2

ERROR_PREFIX = "sfdc.platform.eventbus.grpc."
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
)
_HEADER_TYPE: dict[str, Any] = {
    "type": "record",
    "name": "ChangeEventHeader",
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "symbols": list(CHANGE_TYPES)}},
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}  # fmt: skip
# Enough of each object for the dispatch rules; (name, Avro type, doc type).
ENTITY_FIELDS: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "Lead": (
        ("LastName", "string", "Text"), ("Company", "string", "Text"),
        ("Email", "string", "Email"), ("Country", "string", "Text"),
        ("NumberOfEmployees", "int", "Int"), ("OwnerId", "string", "EntityId"),
        ("CreatedDate", "long", "DateTime"), ("CreatedById", "string", "EntityId"),
        ("LastModifiedDate", "long", "DateTime"),
    ),
    "Task": (
        ("WhoId", "string", "EntityId"), ("Subject", "string", "Text"),
        ("Status", "string", "Picklist"), ("Type", "string", "Picklist"),
        ("IsClosed", "boolean", "Boolean"), ("OwnerId", "string", "EntityId"),
        ("CreatedDate", "long", "DateTime"), ("LastModifiedDate", "long", "DateTime"),
    ),
    "EmailMessage": (
        ("RelatedToId", "string", "EntityId"), ("Subject", "string", "Text"),
        ("Incoming", "boolean", "Boolean"), ("Status", "string", "Picklist"),
        ("MessageDate", "long", "DateTime"), ("CreatedDate", "long", "DateTime"),
    ),
}  # fmt: skip


def change_event_schema(entity: str) -> dict[str, Any]:
    """A <Entity>ChangeEvent schema: the header first, then nullable fields (ENTITY_FIELDS)."""
    fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": _HEADER_TYPE}]
    for name, avro_type, doc_type in ENTITY_FIELDS[entity]:
        fields.append(
            {
                "name": name,
                "type": ["null", avro_type],
                "default": None,
                "doc": f"{name}:{doc_type}",
            }
        )
    return {
        "type": "record",
        "name": f"{entity}ChangeEvent",
        "namespace": "com.sforce.eventbus",
        "fields": fields,
    }


def encode_change_event(
    entity: str,
    *,
    record_ids: Sequence[str],
    change_type: str = "CREATE",
    values: Mapping[str, Any] | None = None,
    changed_fields: Sequence[str] = (),
    origin: str = "com/salesforce/api/rest/62.0",
    commit_at: datetime | None = None,
    commit_user: str = "005000000000001AAA",
) -> bytes:
    """An Avro payload of a change event; changed_fields become a bitmap over field positions."""
    schema = change_event_schema(entity)
    names = [f["name"] for f in schema["fields"]]
    bits = sum(1 << names.index(name) for name in changed_fields)
    digits = f"{bits:X}"
    bitmap = ["0x" + ("0" + digits if len(digits) % 2 else digits)]
    when = commit_at or datetime.now(UTC)
    record: dict[str, Any] = {name: None for name in names[1:]}
    record.update(values or {})
    record["ChangeEventHeader"] = {
        "entityName": entity,
        "recordIds": list(record_ids),
        "changeType": change_type,
        "changeOrigin": origin,
        "transactionKey": "tx-1",
        "sequenceNumber": 1,
        "commitTimestamp": int(when.timestamp() * 1000),
        "commitNumber": 1,
        "commitUser": commit_user,
        "nulledFields": [],
        "diffFields": [],
        "changedFields": bitmap if bits else [],
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def schema_id_of(entity: str) -> str:
    """The fake's schema id of an entity's change event schema."""
    return f"schema-{entity}"


class FakeRpcError(grpc.RpcError):
    """A failed call as grpc raises it: status code, details and the error-code trailer."""

    def __init__(self, code: grpc.StatusCode, error_code: str | None = None, details: str = ""):
        super().__init__(details)
        self._code = code
        self._error_code = error_code
        self._details = details or f"{code.name} rpcId: 00000000-0000-0000-0000-000000000000"

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    # grpc's stubs type metadata as a private class; at run time it is (key, value) pairs.
    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:  # type: ignore[override]
        if self._error_code is None:
            return ()
        return (("error-code", ERROR_PREFIX + self._error_code),)


def replay_corrupted() -> FakeRpcError:
    """What Salesforce answers a CUSTOM subscribe from an unknown or expired replay id."""
    return FakeRpcError(
        grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.replayid.corrupted", "corrupted"
    )


def auth_error() -> FakeRpcError:
    """What Salesforce answers a call with a rejected token."""
    return FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", "auth")


def unavailable() -> FakeRpcError:
    """What Salesforce answers while the service is down."""
    return FakeRpcError(grpc.StatusCode.UNAVAILABLE, "service.unavailable", "unavailable")


@dataclass
class _Topic:
    events: list[pb2.ConsumerEvent] = field(default_factory=list)


class FakePubSub:
    """An in-memory Pub/Sub API (PubSubConnection) with Salesforce's Subscribe semantics."""

    def __init__(self, *, keepalive_seconds: float = 0.05, max_batch: int = 100) -> None:
        self.keepalive_seconds = keepalive_seconds
        self.max_batch = max_batch
        self.requests: list[pb2.FetchRequest] = []
        self.subscribes: list[pb2.FetchRequest] = []
        self.reauthentications = 0
        self.schema_requests: list[str] = []
        self._topics: dict[str, _Topic] = {}
        self._schemas: dict[str, str] = {}
        self._subscribe_failures: list[grpc.RpcError] = []
        self._position = 0
        self._changed = threading.Condition()
        self._calls: list[FakeSubscribeCall] = []

    def add_topic(self, topic: str, entity: str) -> None:
        """Serve a topic whose events use the entity's change event schema."""
        self._topics.setdefault(topic, _Topic())
        self._schemas[schema_id_of(entity)] = json.dumps(change_event_schema(entity))

    def publish(self, topic: str, payload: bytes, *, schema_id: str) -> bytes:
        """Append an event to a topic; returns its 10-byte replay id."""
        with self._changed:
            self._position += 1
            replay_id = self._position.to_bytes(8, "big") + b"\x00\x00"
            event = pb2.ConsumerEvent(
                event=pb2.ProducerEvent(
                    id=f"evt-{self._position}", schema_id=schema_id, payload=payload
                ),
                replay_id=replay_id,
            )
            self._topics[topic].events.append(event)
            self._changed.notify_all()
            return replay_id

    def fail_next_subscribe(self, error: grpc.RpcError) -> None:
        """The next Subscribe call fails with this error on its first read."""
        self._subscribe_failures.append(error)

    def drop_streams(self, error: grpc.RpcError | None = None) -> None:
        """Fail every open stream (UNAVAILABLE by default)."""
        with self._changed:
            for call in self._calls:
                call.fail(error or unavailable())
            self._changed.notify_all()

    @property
    def latest_replay_id(self) -> bytes:
        """The replay id of the newest event on any topic."""
        return self._position.to_bytes(8, "big") + b"\x00\x00"

    def get_topic(self, topic: str) -> pb2.TopicInfo:
        """TopicInfo; NOT_FOUND for a topic never added."""
        if topic not in self._topics:
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "topic.not.found")
        entity = topic.removeprefix("/data/").removesuffix("ChangeEvent")
        return pb2.TopicInfo(
            topic_name=topic, can_subscribe=True, schema_id=schema_id_of(entity), rpc_id="rpc"
        )

    def get_schema(self, schema_id: str) -> str:
        """The schema JSON; LookupError for an unknown id."""
        self.schema_requests.append(schema_id)
        if schema_id not in self._schemas:
            raise LookupError(schema_id)
        return self._schemas[schema_id]

    def subscribe(self, requests: Iterator[pb2.FetchRequest]) -> FakeSubscribeCall:
        """Open a stream fed by the request iterator."""
        failure = self._subscribe_failures.pop(0) if self._subscribe_failures else None
        call = FakeSubscribeCall(self, requests, failure)
        with self._changed:
            self._calls.append(call)
        return call

    def reauthenticate(self) -> None:
        """Count re-authentications."""
        self.reauthentications += 1

    def _start_index(self, first: pb2.FetchRequest) -> int:
        events = self._topics[first.topic_name].events
        if first.replay_preset == pb2.EARLIEST:
            return 0
        if first.replay_preset == pb2.CUSTOM:
            if not first.replay_id:
                raise FakeRpcError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "subscription.fetch.replayid.validation.failed",
                )
            for index, event in enumerate(events):
                if event.replay_id == first.replay_id:
                    return index + 1
            raise replay_corrupted()
        return len(events)


class FakeSubscribeCall:
    """One open Subscribe stream of FakePubSub."""

    def __init__(
        self,
        server: FakePubSub,
        requests: Iterator[pb2.FetchRequest],
        failure: grpc.RpcError | None,
    ) -> None:
        self._server = server
        self._incoming: queue.Queue[pb2.FetchRequest | None] = queue.Queue()
        self._failure = failure
        self._cancelled = False
        self._owed = 0
        self._index: int | None = None
        self._topic = ""
        threading.Thread(target=self._read, args=(requests,), daemon=True).start()

    def _read(self, requests: Iterator[pb2.FetchRequest]) -> None:
        for request in requests:
            self._incoming.put(request)
        self._incoming.put(None)

    def fail(self, error: grpc.RpcError) -> None:
        """Make the next read raise this error."""
        self._failure = error

    def cancel(self) -> bool:
        """End the stream from the client side."""
        with self._server._changed:
            self._cancelled = True
            self._server._changed.notify_all()
        return True

    def __iter__(self) -> FakeSubscribeCall:
        return self

    def __next__(self) -> pb2.FetchResponse:
        if self._index is None:
            first = self._incoming.get(timeout=5)
            if first is None:
                raise StopIteration
            self._take(first)
            self._topic = first.topic_name
            self._server.subscribes.append(first)
            if self._failure is None:
                self._index = self._server._start_index(first)
        while True:
            self._drain()
            with self._server._changed:
                if self._cancelled:
                    raise FakeRpcError(grpc.StatusCode.CANCELLED, None, "cancelled")
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure
                assert self._index is not None
                events = self._server._topics[self._topic].events
                available = events[
                    self._index : self._index + min(self._owed, self._server.max_batch)
                ]
                if available:
                    self._index += len(available)
                    self._owed -= len(available)
                    return pb2.FetchResponse(
                        events=available,
                        latest_replay_id=available[-1].replay_id,
                        rpc_id="rpc",
                        pending_num_requested=self._owed,
                    )
                if self._owed > 0:
                    self._server._changed.wait(self._server.keepalive_seconds)
                    if self._index >= len(events) and not self._cancelled and self._failure is None:
                        return pb2.FetchResponse(
                            latest_replay_id=self._server.latest_replay_id,
                            rpc_id="rpc",
                            pending_num_requested=self._owed,
                        )
                    continue
            try:
                request = self._incoming.get(timeout=self._server.keepalive_seconds)
            except queue.Empty:
                continue
            if request is None:
                raise StopIteration
            self._take(request)

    def _drain(self) -> None:
        while True:
            try:
                request = self._incoming.get_nowait()
            except queue.Empty:
                return
            if request is None:
                return
            self._take(request)

    def _take(self, request: pb2.FetchRequest) -> None:
        self._server.requests.append(request)
        if request.num_requested <= 0:
            self._failure = FakeRpcError(
                grpc.StatusCode.INVALID_ARGUMENT, "subscription.fetch.requested.events.invalid"
            )
            return
        self._owed = min(100, self._owed + request.num_requested)


class FakeRecordReader:
    """An in-memory RecordReader: records per sobject, filtered by id list or window bound.

    It understands the two query shapes recovery builds (``Id IN (...)`` and ``<field> >=
    <date-time>``); the other conditions are left to the rules, which check them again.
    """

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[str] = []
        self.failures: list[Exception] = []

    def add(self, sobject: str, **fields: Any) -> dict[str, Any]:
        """Store a record (REST field names, date-times as REST strings)."""
        record = {"attributes": {"type": sobject}, **fields}
        self.records.setdefault(sobject, []).append(record)
        return record

    def query_records(self, sobject: str, soql: str) -> list[dict[str, Any]]:
        """The stored records the query's id list or lower window bound selects."""
        self.queries.append(soql)
        if self.failures:
            raise self.failures.pop(0)
        records = self.records.get(sobject, [])
        ids = re.search(r"\bId IN \(([^)]*)\)", soql)
        if ids is not None:
            wanted = set(re.findall(r"'([^']+)'", ids.group(1)))
            return [r for r in records if r.get("Id") in wanted]
        bound = re.search(r"\b(\w+) >= (\S+)", soql)
        if bound is None:
            return list(records)
        name, since = bound.group(1), _parse(bound.group(2))
        return [r for r in records if r.get(name) and _parse(str(r[name])) >= since]


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
