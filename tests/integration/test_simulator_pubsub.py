"""The simulator's Pub/Sub API: real gRPC over TLS, change events as a Salesforce subscriber sees them."""

from __future__ import annotations

import base64
import io
import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import grpc
import pytest
import requests
from simple_salesforce import Salesforce

from shared.pubsub import pubsub_api_pb2 as pb
from shared.pubsub import pubsub_api_pb2_grpc as pb_grpc
from simulator.testing import SimulatorHandle, running_simulator

pytestmark = pytest.mark.integration

KEEPALIVE_SECONDS = 0.2
IDLE_TIMEOUT_SECONDS = 1.0
WAIT_SECONDS = 10.0
LEAD_TOPIC = "/data/LeadChangeEvent"
ERROR_PREFIX = "sfdc.platform.eventbus.grpc."
_BITMAP = re.compile(r"^(?:(\d+)-)?0x((?:[0-9A-F]{2})+)$")
_END = object()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """This module's simulator, with keepalives and idle closes short enough to watch."""
    with running_simulator(
        tmp_path_factory.mktemp("pubsub"),
        pubsub_keepalive_seconds=KEEPALIVE_SECONDS,
        pubsub_idle_timeout_seconds=IDLE_TIMEOUT_SECONDS,
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def stub(sim: SimulatorHandle) -> Iterator[pb_grpc.PubSubStub]:
    """A PubSub stub on a TLS channel that trusts the simulator's CA."""
    with sim.pubsub_channel() as channel:
        yield pb_grpc.PubSubStub(channel)


@pytest.fixture(scope="module")
def metadata(sim: SimulatorHandle) -> tuple[tuple[str, str], ...]:
    """Valid call metadata for the integration user."""
    return sim.pubsub_metadata()


class Subscriber:
    """One Subscribe call: requests go in through a queue, responses come out through another."""

    def __init__(self, stub: Any, metadata: Any, first: pb.FetchRequest) -> None:
        self._requests: queue.Queue[pb.FetchRequest | None] = queue.Queue()
        self._requests.put(first)
        self.responses: queue.Queue[Any] = queue.Queue()
        self.call = stub.Subscribe(iter(self._requests.get, None), metadata=metadata)
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
        except grpc.RpcError as error:
            self.responses.put(error)
        self.responses.put(_END)

    def request(self, count: int, topic: str = "") -> None:
        """Ask for more events."""
        self._requests.put(pb.FetchRequest(topic_name=topic, num_requested=count))

    def next(self) -> pb.FetchResponse:
        """The next response; fails the test on an error or the end of the stream."""
        item = self.responses.get(timeout=WAIT_SECONDS)
        assert isinstance(item, pb.FetchResponse), f"expected a response, got {item!r}"
        return item

    def events(self, count: int) -> list[pb.ConsumerEvent]:
        """The next `count` events, skipping keepalives."""
        events: list[pb.ConsumerEvent] = []
        while len(events) < count:
            events.extend(self.next().events)
        return events

    def outcome(self) -> grpc.RpcError | None:
        """How the stream ended, after any responses still queued: the error, or None for OK."""
        while True:
            item = self.responses.get(timeout=WAIT_SECONDS)
            if item is _END:
                return None
            if isinstance(item, grpc.RpcError):
                return item

    def close(self) -> None:
        """Stop sending and cancel the call."""
        self._requests.put(None)
        self.call.cancel()
        self._thread.join(timeout=WAIT_SECONDS)


def subscribe(
    stub: Any,
    metadata: Any,
    *,
    topic: str = LEAD_TOPIC,
    preset: pb.ReplayPreset.ValueType = pb.LATEST,
    replay_id: bytes = b"",
    count: int = 100,
) -> Subscriber:
    """Open a Subscribe call with its first FetchRequest."""
    first = pb.FetchRequest(
        topic_name=topic, replay_preset=preset, replay_id=replay_id, num_requested=count
    )
    return Subscriber(stub, metadata, first)


def listening(stub: Any, metadata: Any, **kwargs: Any) -> Subscriber:
    """Subscribe and wait until the stream serves (its first keepalive), so nothing is missed."""
    subscriber = subscribe(stub, metadata, **kwargs)
    subscriber.next()
    return subscriber


_schemas: dict[str, dict[str, Any]] = {}


def schema_for(stub: Any, metadata: Any, schema_id: str) -> dict[str, Any]:
    """A schema by id through GetSchema, cached as every client does."""
    if schema_id not in _schemas:
        info = stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=metadata)
        _schemas[schema_id] = json.loads(info.schema_json)
    return _schemas[schema_id]


def decode(stub: Any, metadata: Any, event: pb.ConsumerEvent) -> dict[str, Any]:
    """An event's Avro payload, read with the schema its schema id names."""
    schema = fastavro.parse_schema(schema_for(stub, metadata, event.event.schema_id))
    record = fastavro.schemaless_reader(io.BytesIO(event.event.payload), schema)
    assert isinstance(record, dict)
    return record


def expand(schema: dict[str, Any], entries: list[str]) -> set[str]:
    """Field names a bitmap list selects (bit i = field i; `p-0x..` = parts of field p)."""
    fields = schema["fields"]
    names: set[str] = set()
    for entry in entries:
        match = _BITMAP.match(entry)
        assert match, f"{entry!r} is not upper-case, even-length 0x hex"
        bits = int(match.group(2), 16)
        if match.group(1) is None:
            names |= {fields[i]["name"] for i in range(bits.bit_length()) if bits >> i & 1}
            continue
        parent = fields[int(match.group(1))]
        record = next(t for t in parent["type"] if isinstance(t, dict))
        parts = record["fields"]
        names |= {
            f"{parent['name']}.{parts[i]['name']}"
            for i in range(bits.bit_length())
            if bits >> i & 1
        }
    return names


def position(replay_id: bytes) -> int:
    """The counter in a 10-byte replay id."""
    assert len(replay_id) == 10 and replay_id.endswith(b"\x00\x00")
    return int.from_bytes(replay_id[:8], "big")


def status(error: Any) -> grpc.StatusCode:
    """The status code of a failed call (grpc's errors are also grpc.Call objects)."""
    return error.code()  # type: ignore[no-any-return]


def details(error: Any) -> str:
    """The status message of a failed call."""
    return str(error.details())


def trailer(error: Any) -> str:
    """The error-code trailer of a failed call."""
    return str(dict(error.trailing_metadata() or ()).get("error-code", ""))


def failure(call: Any) -> grpc.RpcError:
    """Run a unary call and return its error."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def epoch_ms(value: str) -> int:
    """A REST DateTime as epoch milliseconds."""
    return int(datetime.fromisoformat(value.replace("+0000", "+00:00")).timestamp() * 1000)


def test_topics_and_schemas(sim: SimulatorHandle, stub: Any, metadata: Any) -> None:
    """Every change event channel is subscribable; its schema id names a schema led by the header."""
    for topic in ("/data/LeadChangeEvent", "/data/TaskChangeEvent",
                  "/data/EmailMessageChangeEvent", "/data/ChangeEvents"):  # fmt: skip
        info = stub.GetTopic(pb.TopicRequest(topic_name=topic), metadata=metadata)
        assert (info.topic_name, info.can_subscribe, info.can_publish) == (topic, True, False)
        assert info.tenant_guid == sim.org_id and info.rpc_id
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", info.schema_id)
    lead = stub.GetTopic(pb.TopicRequest(topic_name=LEAD_TOPIC), metadata=metadata)
    schema_info = stub.GetSchema(pb.SchemaRequest(schema_id=lead.schema_id), metadata=metadata)
    assert schema_info.schema_id == lead.schema_id
    schema = json.loads(schema_info.schema_json)
    assert (schema["name"], schema["namespace"]) == ("LeadChangeEvent", "com.sforce.eventbus")
    header = schema["fields"][0]
    assert header["name"] == "ChangeEventHeader" and header["type"]["type"] == "record"
    assert [f["name"] for f in header["type"]["fields"]] == [
        "entityName", "recordIds", "changeType", "changeOrigin", "transactionKey",
        "sequenceNumber", "commitTimestamp", "commitNumber", "commitUser", "nulledFields",
        "diffFields", "changedFields",
    ]  # fmt: skip
    assert "GAP_OVERFLOW" in header["type"]["fields"][2]["type"]["symbols"]
    by_name = {f["name"]: f for f in schema["fields"][1:]}
    assert "FirstName" not in by_name and "City" not in by_name
    assert [p["name"] for p in by_name["Name"]["type"][1]["fields"]] == ["FirstName", "LastName"]
    assert by_name["CreatedDate"] == {
        "name": "CreatedDate", "type": ["null", "long"], "default": None,
        "doc": "CreatedDate:DateTime",
    }  # fmt: skip
    assert all(f["type"][0] == "null" and f["default"] is None for f in by_name.values())


def test_unknown_topic_and_schema(stub: Any, metadata: Any) -> None:
    """Unknown topics and schema ids are NOT_FOUND with Salesforce's error code and an rpcId."""
    error = failure(lambda: stub.GetTopic(pb.TopicRequest(topic_name="/data/NopeChangeEvent"),
                                          metadata=metadata))  # fmt: skip
    assert status(error) == grpc.StatusCode.NOT_FOUND
    assert trailer(error) == ERROR_PREFIX + "topic.not.found"
    assert re.search(r" rpcId: [0-9a-f-]{36}$", details(error))
    error = failure(lambda: stub.GetSchema(pb.SchemaRequest(schema_id="A" * 22),
                                           metadata=metadata))  # fmt: skip
    assert status(error) == grpc.StatusCode.NOT_FOUND
    assert trailer(error).startswith(ERROR_PREFIX + "schema.")
    refused = subscribe(stub, metadata, topic="/data/NopeChangeEvent").outcome()
    assert refused is not None and trailer(refused) == ERROR_PREFIX + "topic.not.found"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"accesstoken": "00Dxx!not-a-token"}, "service.auth.error"),
        ({"tenantid": "00D000000000000AAA"}, "service.auth.error"),
        ({"instanceurl": "https://elsewhere.my.salesforce.com"}, "service.auth.error"),
        ({"accesstoken": ""}, "service.auth.headers.invalid"),
        ({"tenantid": None}, "service.auth.headers.invalid"),
    ],
    ids=["bad-token", "other-org", "other-instance", "blank-token", "missing-tenant"],
)
def test_auth_errors(
    sim: SimulatorHandle, stub: Any, change: dict[str, str | None], code: str
) -> None:
    """Calls without valid credentials are UNAUTHENTICATED with the auth error code and an rpcId."""
    headers: dict[str, str | None] = {**dict(sim.pubsub_metadata()), **change}
    bad = tuple((k, v) for k, v in headers.items() if v is not None)
    error = failure(lambda: stub.GetTopic(pb.TopicRequest(topic_name=LEAD_TOPIC), metadata=bad))
    assert status(error) == grpc.StatusCode.UNAUTHENTICATED
    assert trailer(error) == ERROR_PREFIX + code
    assert " rpcId: " in details(error)
    subscriber = subscribe(stub, bad)
    refused = subscriber.outcome()
    assert refused is not None and trailer(refused) == ERROR_PREFIX + code


def test_revoked_token_and_extra_headers(sim: SimulatorHandle, stub: Any) -> None:
    """Extra metadata such as x-client-trace-id is ignored; a revoked REST token is refused."""
    token = sim.access_token()
    metadata = (*sim.pubsub_metadata(token), ("x-client-trace-id", "trace-1"))
    assert stub.GetTopic(pb.TopicRequest(topic_name=LEAD_TOPIC), metadata=metadata).can_subscribe
    sim.revoke_tokens(token)
    error = failure(lambda: stub.GetTopic(pb.TopicRequest(topic_name=LEAD_TOPIC),
                                          metadata=metadata))  # fmt: skip
    assert trailer(error) == ERROR_PREFIX + "service.auth.error"


def test_lead_create_event(sim: SimulatorHandle, stub: Any, metadata: Any, sf: Salesforce) -> None:
    """A Lead CREATE decodes with its schema into the right header and every field."""
    subscriber = listening(stub, metadata)
    lead_id = sf.Lead.create({"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines",
                              "City": "London", "NumberOfEmployees": 120})["id"]  # fmt: skip
    (event,) = subscriber.events(1)
    subscriber.close()
    lead = sf.Lead.get(lead_id)
    assert len(event.replay_id) == 10 and event.replay_id.endswith(b"\x00\x00")
    assert re.fullmatch(r"[0-9a-f-]{36}", event.event.id)
    record = decode(stub, metadata, event)
    header = record["ChangeEventHeader"]
    assert header["entityName"] == "Lead" and header["recordIds"] == [lead_id]
    assert header["changeType"] == "CREATE" and header["commitUser"] == sim.user_id
    assert header["changeOrigin"] == "com/salesforce/api/rest/62.0"
    assert header["commitTimestamp"] == epoch_ms(lead["CreatedDate"])
    assert header["sequenceNumber"] == 1 and header["transactionKey"]
    assert (header["changedFields"], header["nulledFields"], header["diffFields"]) == ([], [], [])
    assert record["Name"] == {"FirstName": "Ada", "LastName": "Lovelace"}
    assert record["Address"]["City"] == "London" and record["Address"]["Street"] is None
    assert record["Company"] == "Engines" and record["NumberOfEmployees"] == 120
    assert record["OwnerId"] == lead["OwnerId"] and record["IsConverted"] is False
    assert record["CreatedDate"] == epoch_ms(lead["CreatedDate"])


def test_update_bitmaps(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """An UPDATE sends changed values, nulls the rest, and lists fields as position bitmaps."""
    lead_id = sf.Lead.create({"FirstName": "Bo", "LastName": "Old", "Company": "X",
                              "Title": "CTO"})["id"]  # fmt: skip
    subscriber = listening(stub, metadata)
    sf.Lead.update(lead_id, {"LastName": "New", "Title": None, "Rating": "Hot"},
                   headers={"Sforce-Auto-Assign": "FALSE"})  # fmt: skip
    (event,) = subscriber.events(1)
    subscriber.close()
    record = decode(stub, metadata, event)
    header = record["ChangeEventHeader"]
    schema = schema_for(stub, metadata, event.event.schema_id)
    assert header["changeType"] == "UPDATE"
    name_position = [f["name"] for f in schema["fields"]].index("Name")
    assert any(e.startswith(f"{name_position}-0x") for e in header["changedFields"])
    assert expand(schema, header["changedFields"]) == {
        "Name", "Name.LastName", "Title", "Rating", "LastModifiedDate",
    }  # fmt: skip
    assert expand(schema, header["nulledFields"]) == {"Title"}
    assert header["diffFields"] == []
    assert record["Name"] == {"FirstName": None, "LastName": "New"}
    assert (record["Rating"], record["Title"], record["Company"]) == ("Hot", None, None)
    assert record["LastModifiedDate"] is not None and record["CreatedDate"] is None


def test_change_origin_names_the_client(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """A write with Sforce-Call-Options client=leadfleet is marked so in changeOrigin."""
    lead_id = sf.Lead.create({"LastName": "Echo", "Company": "X"})["id"]
    subscriber = listening(stub, metadata)
    sf.Lead.update(lead_id, {"Rating": "Warm"}, headers={"Sforce-Call-Options": "client=leadfleet"})
    (event,) = subscriber.events(1)
    subscriber.close()
    header = decode(stub, metadata, event)["ChangeEventHeader"]
    assert header["changeOrigin"] == "com/salesforce/api/rest/62.0;client=leadfleet"


def test_identical_collection_updates_are_one_event(
    stub: Any, metadata: Any, sf: Salesforce
) -> None:
    """The same change to several records in one collections call is one event naming them all."""
    ids = [sf.Lead.create({"LastName": f"Many{i}", "Company": "X"})["id"] for i in range(3)]
    subscriber = listening(stub, metadata)
    records = [{"attributes": {"type": "Lead"}, "id": i, "Rating": "Cold"} for i in ids]
    sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records},
               headers={"Sforce-Auto-Assign": "FALSE"})  # fmt: skip
    (event,) = subscriber.events(1)
    subscriber.close()
    assert decode(stub, metadata, event)["ChangeEventHeader"]["recordIds"] == ids


def test_delete_event_carries_the_header_only(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """A DELETE names the record and sends every field as null."""
    lead_id = sf.Lead.create({"LastName": "Gone", "Company": "X"})["id"]
    subscriber = listening(stub, metadata)
    sf.Lead.delete(lead_id)
    (event,) = subscriber.events(1)
    subscriber.close()
    record = decode(stub, metadata, event)
    assert record.pop("ChangeEventHeader")["changeType"] == "DELETE"
    assert set(record.values()) == {None}


def test_flow_control(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """Only requested events are sent; the rest wait, without keepalives, for the next request."""
    subscriber = listening(stub, metadata, count=2)
    ids = [sf.Lead.create({"LastName": f"Flow{i}", "Company": "X"})["id"] for i in range(4)]
    first_two = subscriber.events(2)
    assert [decode(stub, metadata, e)["ChangeEventHeader"]["recordIds"][0] for e in first_two] \
        == ids[:2]  # fmt: skip
    time.sleep(KEEPALIVE_SECONDS * 3)
    assert subscriber.responses.empty()
    subscriber.request(1)
    response = subscriber.next()
    subscriber.close()
    assert len(response.events) == 1 and response.pending_num_requested == 0
    assert decode(stub, metadata, response.events[0])["ChangeEventHeader"]["recordIds"] == [ids[2]]


def test_keepalives_report_the_latest_replay_id(
    sim: SimulatorHandle, stub: Any, metadata: Any
) -> None:
    """With events owed and none available, empty responses carry the tip's replay id."""
    subscriber = subscribe(stub, metadata, count=5)
    keepalives = [subscriber.next() for _ in range(2)]
    subscriber.close()
    for keepalive in keepalives:
        assert not keepalive.events and keepalive.pending_num_requested == 5
        assert position(keepalive.latest_replay_id) == sim.change_log_position()
        assert keepalive.rpc_id == keepalives[0].rpc_id != ""


def test_requests_are_capped_at_100(stub: Any, metadata: Any) -> None:
    """Requested events add up to at most 100 outstanding."""
    subscriber = subscribe(stub, metadata, count=150)
    assert subscriber.next().pending_num_requested == 100
    subscriber.request(50)
    assert subscriber.next().pending_num_requested == 100
    subscriber.close()


@pytest.mark.parametrize("first", [True, False], ids=["first-request", "later-request"])
@pytest.mark.parametrize("count", [0, -3], ids=["zero", "negative"])
def test_non_positive_requests_are_rejected(
    stub: Any, metadata: Any, first: bool, count: int
) -> None:
    """num_requested <= 0 ends the call with INVALID_ARGUMENT requested.events.invalid."""
    subscriber = subscribe(stub, metadata, count=count if first else 5)
    if not first:
        subscriber.request(count)
    error = subscriber.outcome()
    assert error is not None and status(error) == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer(error) == ERROR_PREFIX + "subscription.fetch.requested.events.invalid"
    assert " rpcId: " in details(error)


def test_a_later_request_for_another_topic_is_rejected(stub: Any, metadata: Any) -> None:
    """A FetchRequest may repeat its stream's topic but not change it."""
    subscriber = subscribe(stub, metadata, count=1)
    subscriber.request(1, topic=LEAD_TOPIC)
    subscriber.request(1, topic="/data/TaskChangeEvent")
    error = subscriber.outcome()
    assert (
        error is not None and trailer(error) == ERROR_PREFIX + "subscription.fetch.topic.mismatch"
    )


def test_replay_presets(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """EARLIEST replays retained events, CUSTOM resumes right after an id (10 or 8 bytes), LATEST waits."""
    ids = [sf.Lead.create({"LastName": f"Replay{i}", "Company": "X"})["id"] for i in range(3)]
    earliest = subscribe(stub, metadata, preset=pb.EARLIEST)
    by_id: dict[str, pb.ConsumerEvent] = {}
    while ids[2] not in by_id:
        response = earliest.next()
        for event in response.events:
            by_id.update(
                dict.fromkeys(
                    decode(stub, metadata, event)["ChangeEventHeader"]["recordIds"], event
                )
            )
        if response.pending_num_requested == 0:
            earliest.request(100)
    earliest.close()
    assert [position(by_id[i].replay_id) for i in ids] == sorted(position(by_id[i].replay_id)
                                                                  for i in ids)  # fmt: skip
    for replay_id in (by_id[ids[0]].replay_id, by_id[ids[0]].replay_id[:8]):
        custom = subscribe(stub, metadata, preset=pb.CUSTOM, replay_id=replay_id, count=1)
        (event,) = custom.events(1)
        custom.close()
        assert decode(stub, metadata, event)["ChangeEventHeader"]["recordIds"] == [ids[1]]
    latest = listening(stub, metadata, count=1)
    new_id = sf.Lead.create({"LastName": "Later", "Company": "X"})["id"]
    (event,) = latest.events(1)
    latest.close()
    assert decode(stub, metadata, event)["ChangeEventHeader"]["recordIds"] == [new_id]


@pytest.mark.parametrize(
    ("replay_id", "code"),
    [
        (b"", "subscription.fetch.replayid.validation.failed"),
        (b"1234", "subscription.fetch.replayid.corrupted"),
        (b"\x00" * 8 + b"\x01\x02", "subscription.fetch.replayid.corrupted"),
        ((2**62).to_bytes(8, "big") + b"\x00\x00", "subscription.fetch.replayid.corrupted"),
    ],
    ids=["custom-without-id", "decimal-string", "bad-suffix", "unknown-position"],
)
def test_bad_replay_ids(stub: Any, metadata: Any, replay_id: bytes, code: str) -> None:
    """CUSTOM needs a replay id this org issued; otherwise INVALID_ARGUMENT with the replay code."""
    subscriber = subscribe(stub, metadata, preset=pb.CUSTOM, replay_id=replay_id)
    error = subscriber.outcome()
    assert error is not None and status(error) == grpc.StatusCode.INVALID_ARGUMENT
    assert trailer(error) == ERROR_PREFIX + code


def test_expired_replay_ids(sim: SimulatorHandle, stub: Any, metadata: Any, sf: Salesforce) -> None:
    """Replay ids of events past the retention window, or expired on purpose, are corrupted."""
    sf.Lead.create({"LastName": "Aged", "Company": "X"})
    old_position = sim.change_log_position()
    sf.Lead.create({"LastName": "Newer", "Company": "X"})
    old_id = old_position.to_bytes(8, "big") + b"\x00\x00"
    sim.shift_clock(timedelta(hours=73).total_seconds())
    try:
        aged_metadata = sim.pubsub_metadata()
        error = subscribe(stub, aged_metadata, preset=pb.CUSTOM, replay_id=old_id).outcome()
        assert error is not None
        assert trailer(error) == ERROR_PREFIX + "subscription.fetch.replayid.corrupted"
    finally:
        sim.shift_clock(-timedelta(hours=73).total_seconds())
    resumed = subscribe(stub, metadata, preset=pb.CUSTOM, replay_id=old_id, count=1)
    assert resumed.events(1)[0].replay_id != old_id
    resumed.close()
    sim.expire_events()
    error = subscribe(stub, metadata, preset=pb.CUSTOM, replay_id=old_id).outcome()
    assert error is not None
    assert trailer(error) == ERROR_PREFIX + "subscription.fetch.replayid.corrupted"


def test_idle_stream_closes_cleanly(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """Once nothing is owed and no request follows within the idle timeout, the call ends OK."""
    subscriber = listening(stub, metadata, count=1)
    sf.Lead.create({"LastName": "Idle", "Company": "X"})
    assert len(subscriber.events(1)) == 1
    assert subscriber.outcome() is None
    assert subscriber.call.code() == grpc.StatusCode.OK


@pytest.mark.parametrize(
    "change_type",
    ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"],
    ids=["create", "update", "delete", "undelete"],
)
def test_gap_events(
    sim: SimulatorHandle, stub: Any, metadata: Any, sf: Salesforce, change_type: str
) -> None:
    """An injected gap event names its records and carries no fields."""
    ids = [sf.Lead.create({"LastName": f"Gap{i}", "Company": "X"})["id"] for i in range(2)]
    subscriber = listening(stub, metadata, count=1)
    sim.inject_gap("Lead", change_type, ids)
    (event,) = subscriber.events(1)
    subscriber.close()
    record = decode(stub, metadata, event)
    header = record.pop("ChangeEventHeader")
    assert (header["changeType"], header["recordIds"], header["changedFields"]) == (
        change_type, ids, [],
    )  # fmt: skip
    assert set(record.values()) == {None}


def test_gap_overflow_through_the_admin_api(sim: SimulatorHandle, stub: Any, metadata: Any) -> None:
    """GAP_OVERFLOW (injected over /__sim/) names the object and no records."""
    subscriber = listening(stub, metadata, topic="/data/ChangeEvents", count=1)
    response = requests.post(f"{sim.instance_url}/__sim/cdc/overflow", json={"entity": "Task"},
                             verify=str(sim.ca_bundle), timeout=WAIT_SECONDS)  # fmt: skip
    assert response.status_code == 201
    (event,) = subscriber.events(1)
    subscriber.close()
    header = decode(stub, metadata, event)["ChangeEventHeader"]
    assert (header["entityName"], header["changeType"], header["recordIds"]) == (
        "Task", "GAP_OVERFLOW", [],
    )  # fmt: skip


def test_all_change_events_channel(stub: Any, metadata: Any, sf: Salesforce) -> None:
    """/data/ChangeEvents carries every object, each event with its own schema id."""
    subscriber = listening(stub, metadata, topic="/data/ChangeEvents", count=2)
    lead_id = sf.Lead.create({"LastName": "Both", "Company": "X"})["id"]
    task_id = sf.Task.create({"WhoId": lead_id, "Status": "Completed", "Type": "Call"})["id"]
    lead_event, task_event = subscriber.events(2)
    subscriber.close()
    assert lead_event.event.schema_id != task_event.event.schema_id
    task = decode(stub, metadata, task_event)
    assert task["ChangeEventHeader"]["recordIds"] == [task_id]
    assert (task["WhoId"], task["Status"]) == (lead_id, "Completed")
    assert decode(stub, metadata, lead_event)["ChangeEventHeader"]["entityName"] == "Lead"


def test_injected_unavailability_and_drops(sim: SimulatorHandle, stub: Any, metadata: Any) -> None:
    """Subscribe can be made to fail with service.unavailable, and open streams can be cut."""
    sim.fail_subscribes(1)
    error = subscribe(stub, metadata).outcome()
    assert error is not None and status(error) == grpc.StatusCode.UNAVAILABLE
    assert trailer(error) == ERROR_PREFIX + "service.unavailable"
    assert " rpcId: " in details(error)
    subscriber = listening(stub, metadata)
    assert sim.drop_streams() == 1
    dropped = subscriber.outcome()
    assert dropped is not None and status(dropped) == grpc.StatusCode.UNAVAILABLE


def test_publishing_is_not_offered(stub: Any, metadata: Any) -> None:
    """Change event channels cannot be published to."""
    request = pb.PublishRequest(topic_name=LEAD_TOPIC, events=[pb.ProducerEvent(payload=b"x")])
    error = failure(lambda: stub.Publish(request, metadata=metadata))
    assert status(error) == grpc.StatusCode.UNIMPLEMENTED


def test_plaintext_when_asked(tmp_path: Path) -> None:
    """With pubsub_plaintext the server speaks gRPC without TLS, and the start-up document says so."""
    with running_simulator(tmp_path, pubsub_plaintext=True) as plain:
        assert plain.simulator.connection_info()["pubsub_tls"] is False
        with grpc.insecure_channel(plain.pubsub_target) as channel:
            info = pb_grpc.PubSubStub(channel).GetTopic(
                pb.TopicRequest(topic_name=LEAD_TOPIC), metadata=plain.pubsub_metadata()
            )
    assert info.tenant_guid == plain.org_id
    assert base64.urlsafe_b64decode(info.schema_id + "==")
