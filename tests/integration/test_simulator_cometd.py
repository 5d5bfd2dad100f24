"""The simulator's CometD endpoint: the Bayeux handshake, replay, long-polling and expiry over HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from shared.pubsub import pubsub_api_pb2_grpc as pb_grpc
from simulator.testing import SimulatorHandle, running_simulator
from tests.integration.test_simulator_pubsub import (
    decode,
    expand,
    listening,
    position,
    schema_for,
)

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT_SECONDS = 0.5
CLIENT_EXPIRY_SECONDS = 30.0
LEAD_CHANNEL = "/data/LeadChangeEvent"
HTTP_TIMEOUT_SECONDS = 10.0


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """This module's simulator, with a long-poll short enough to wait out."""
    with running_simulator(
        tmp_path_factory.mktemp("cometd"),
        cometd_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        cometd_client_expiry_seconds=CLIENT_EXPIRY_SECONDS,
        pubsub_keepalive_seconds=0.2,
    ) as handle:
        yield handle


class Bayeux:
    """A minimal long-polling client: one HTTPS session, one client id."""

    def __init__(self, sim: SimulatorHandle, token: str | None = None) -> None:
        self.session = sim.session(token)
        self.url = sim.cometd_url()
        self.client_id = ""
        self._ids = 0

    def send(self, channel: str, path: str = "", **fields: Any) -> list[dict[str, Any]]:
        """POST one message and return the reply array."""
        response = self.post(channel, path, **fields)
        response.raise_for_status()
        return list(response.json())

    def post(self, channel: str, path: str = "", **fields: Any) -> requests.Response:
        """POST one message and return the raw HTTP response."""
        self._ids += 1
        message = {"channel": channel, "id": str(self._ids), **fields}
        if self.client_id and channel != "/meta/handshake":
            message.setdefault("clientId", self.client_id)
        return self.session.post(self.url + path, json=[message], timeout=HTTP_TIMEOUT_SECONDS)

    def handshake(self) -> dict[str, Any]:
        """Handshake and remember the client id."""
        (reply,) = self.send("/meta/handshake", "/handshake", version="1.0",
                             supportedConnectionTypes=["long-polling"])  # fmt: skip
        self.client_id = reply["clientId"]
        return reply

    def subscribe(self, channel: str, replay: int | None = None) -> dict[str, Any]:
        """Subscribe, with the replay extension when a replay id is given."""
        ext = {"replay": {channel: replay}} if replay is not None else {}
        (reply,) = self.send("/meta/subscribe", "/subscribe", subscription=channel, ext=ext)
        return reply

    def connect(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One long-poll: the delivered events and the connect reply."""
        replies = self.send("/meta/connect", "/connect", connectionType="long-polling")
        return replies[:-1], replies[-1]

    def events(self, count: int) -> list[dict[str, Any]]:
        """Long-poll until `count` events have arrived."""
        events: list[dict[str, Any]] = []
        for _ in range(20):
            delivered, reply = self.connect()
            assert reply["successful"], reply
            events.extend(delivered)
            if len(events) >= count:
                return events
        raise AssertionError(f"only {len(events)} of {count} events arrived")


def record_ids(event: dict[str, Any]) -> list[str]:
    """The recordIds of a delivered change event."""
    return list(event["data"]["payload"]["ChangeEventHeader"]["recordIds"])


def test_handshake_subscribe_and_new_events(sim: SimulatorHandle, sf: Salesforce) -> None:
    """With replay -1 only later events arrive, in Salesforce's CometD message shape."""
    sf.Lead.create({"LastName": "Earlier", "Company": "X"})
    client = Bayeux(sim)
    handshake = client.handshake()
    assert handshake["successful"] and handshake["supportedConnectionTypes"] == ["long-polling"]
    assert handshake["ext"]["replay"] is True and "timeout" in handshake["advice"]
    assert client.subscribe(LEAD_CHANNEL, -1)["successful"]
    lead_id = sf.Lead.create({"FirstName": "Grace", "LastName": "Hopper", "Company": "Navy"})["id"]
    (event,) = client.events(1)
    assert event["channel"] == LEAD_CHANNEL
    data = event["data"]
    assert isinstance(data["event"]["replayId"], int) and len(data["schema"]) == 22
    payload = data["payload"]
    header = payload["ChangeEventHeader"]
    assert (header["changeType"], header["recordIds"]) == ("CREATE", [lead_id])
    assert isinstance(header["commitTimestamp"], int)
    assert "nulledFields" not in header and "diffFields" not in header
    assert payload["Name"] == {"FirstName": "Grace", "LastName": "Hopper"}
    assert "Title" not in payload and "Address" not in payload
    created = datetime.fromisoformat(payload["CreatedDate"].replace("Z", "+00:00"))
    assert payload["CreatedDate"].endswith("Z") and created.tzinfo is not None


def test_connect_without_events_returns_advice(sim: SimulatorHandle) -> None:
    """A long-poll with nothing to deliver ends with a successful connect reply and its advice."""
    client = Bayeux(sim)
    client.handshake()
    client.subscribe(LEAD_CHANNEL)
    delivered, reply = client.connect()
    assert delivered == []
    assert reply["successful"] and reply["advice"] == {
        "reconnect": "retry", "interval": 0, "timeout": int(CONNECT_TIMEOUT_SECONDS * 1000),
    }  # fmt: skip


def test_replay_all_and_from_an_id(sim: SimulatorHandle, sf: Salesforce) -> None:
    """Replay -2 delivers retained events; a replay id resumes right after it; a bad one is refused."""
    ids = [sf.Lead.create({"LastName": f"Kept{i}", "Company": "X"})["id"] for i in range(2)]
    everything = Bayeux(sim)
    everything.handshake()
    everything.subscribe(LEAD_CHANNEL, -2)
    seen: dict[str, dict[str, Any]] = {}
    while ids[1] not in seen:
        for event in everything.events(1):
            seen.update(dict.fromkeys(record_ids(event), event))
    first_replay = seen[ids[0]]["data"]["event"]["replayId"]
    resumed = Bayeux(sim)
    resumed.handshake()
    assert resumed.subscribe(LEAD_CHANNEL, first_replay)["successful"]
    assert record_ids(resumed.events(1)[0]) == [ids[1]]
    refused = resumed.subscribe(LEAD_CHANNEL, 10**9)
    assert not refused["successful"]
    assert refused["error"].startswith("400::The replayId {1000000000} you provided was invalid")


def test_unknown_and_expired_clients(sim: SimulatorHandle) -> None:
    """A client id the server does not know, or one idle past expiry, must handshake again."""
    stranger = Bayeux(sim)
    stranger.client_id = "never-handshaken"
    _, reply = stranger.connect()
    assert (reply["successful"], reply["error"]) == (False, "403::Unknown client")
    assert reply["advice"]["reconnect"] == "handshake"
    idle = Bayeux(sim)
    idle.handshake()
    idle.subscribe(LEAD_CHANNEL)
    sim.shift_clock(CLIENT_EXPIRY_SECONDS + 1)
    try:
        _, reply = idle.connect()
    finally:
        sim.shift_clock(-(CLIENT_EXPIRY_SECONDS + 1))
    assert reply["error"] == "403::Unknown client"
    assert idle.subscribe(LEAD_CHANNEL)["error"] == "403::Unknown client"


def test_disconnect_forgets_the_client(sim: SimulatorHandle) -> None:
    """After /meta/disconnect the client id is unknown."""
    client = Bayeux(sim)
    client.handshake()
    (reply,) = client.send("/meta/disconnect", "/disconnect")
    assert reply["successful"]
    assert client.connect()[1]["error"] == "403::Unknown client"


@pytest.mark.parametrize(
    ("authorization", "status", "error"),
    [
        (None, 401, "401::Request requires authentication"),
        ("Bearer 00Dxx!not-a-session", 401, "403::Handshake denied"),
    ],
    ids=["no-token", "bad-token"],
)
def test_authentication(
    sim: SimulatorHandle, authorization: str | None, status: int, error: str
) -> None:
    """Without a valid session the endpoint answers 401 with a Bayeux error."""
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.post(
        sim.cometd_url(),
        json=[{"channel": "/meta/handshake", "id": "1", "version": "1.0"}],
        headers=headers,
        verify=str(sim.ca_bundle),
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == status
    (reply,) = response.json()
    assert (reply["successful"], reply["error"]) == (False, error)


def test_unsupported_version(sim: SimulatorHandle) -> None:
    """Only API versions 59.0 to 66.0 serve CometD."""
    response = sim.session().post(
        sim.cometd_url("45.0"), json=[{"channel": "/meta/handshake"}], timeout=HTTP_TIMEOUT_SECONDS
    )
    assert response.status_code == 404


def test_same_changes_as_pubsub(sim: SimulatorHandle, sf: Salesforce) -> None:
    """CometD delivers the same events as the Pub/Sub API, names instead of bitmaps, ISO times."""
    metadata = sim.pubsub_metadata()
    with sim.pubsub_channel() as channel:
        stub = pb_grpc.PubSubStub(channel)
        grpc_subscriber = listening(stub, metadata, count=3)
        client = Bayeux(sim)
        client.handshake()
        client.subscribe(LEAD_CHANNEL, -1)
        lead_id = sf.Lead.create({"FirstName": "Al", "LastName": "Same", "Company": "X",
                                  "Title": "VP"})["id"]  # fmt: skip
        sf.Lead.update(lead_id, {"LastName": "Changed", "Title": None},
                       headers={"Sforce-Call-Options": "client=leadfleet"})  # fmt: skip
        sf.Lead.delete(lead_id)
        over_grpc = grpc_subscriber.events(3)
        grpc_subscriber.close()
        over_cometd = client.events(3)
        for pubsub_event, cometd_event in zip(over_grpc, over_cometd, strict=True):
            record = decode(stub, metadata, pubsub_event)
            schema = schema_for(stub, metadata, pubsub_event.event.schema_id)
            avro_header = record["ChangeEventHeader"]
            cometd_data = cometd_event["data"]
            json_header = cometd_data["payload"]["ChangeEventHeader"]
            assert position(pubsub_event.replay_id) == cometd_data["event"]["replayId"]
            assert pubsub_event.event.schema_id == cometd_data["schema"]
            for key in ("changeType", "recordIds", "changeOrigin", "transactionKey",
                        "commitTimestamp", "commitNumber", "commitUser", "sequenceNumber"):  # fmt: skip
                assert avro_header[key] == json_header[key], key
            expanded = expand(schema, avro_header["changedFields"])
            parents = {name.partition(".")[0] for name in expanded if "." in name}
            assert set(json_header["changedFields"]) == expanded - parents
    created, updated, deleted = over_cometd
    assert created["data"]["payload"]["Title"] == "VP"
    assert updated["data"]["payload"]["Name"] == {"LastName": "Changed"}
    assert updated["data"]["payload"]["Title"] is None
    assert updated["data"]["payload"]["ChangeEventHeader"]["changeOrigin"].endswith(
        ";client=leadfleet"
    )
    assert set(deleted["data"]["payload"]) == {"ChangeEventHeader"}
