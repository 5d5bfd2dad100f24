"""CometD events become the same changes and messages as Pub/Sub events; the client follows advice."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from listener.cometd import (
    CometdClient,
    RehandshakeNeeded,
    ReplayRejected,
    cometd_changes,
    replay_bytes,
    replay_int,
)
from listener.dispatch import route
from shared.messages import LeadCreatedMessage, ResponseActivityMessage
from shared.salesforce.auth import AccessToken
from shared.salesforce.errors import SessionExpiredError
from shared.salesforce.ids import to_18

LEAD = to_18("00Q000000000001")
TASK = to_18("00T000000000001")


def _event(entity: str, change_type: str, payload: dict[str, Any], *, replay: int = 7,
           record_ids: list[str] | None = None, changed: list[str] | None = None,
           origin: str = "") -> dict[str, Any]:  # fmt: skip
    header = {
        "entityName": entity, "recordIds": record_ids or [LEAD], "changeType": change_type,
        "changeOrigin": origin, "transactionKey": "tx", "sequenceNumber": 1,
        "commitTimestamp": 1_767_607_200_000, "commitNumber": 3, "commitUser": "005000000000001AAA",
        "changedFields": changed or [],
    }  # fmt: skip
    return {
        "channel": f"/data/{entity}ChangeEvent",
        "data": {"schema": "abc", "payload": {"ChangeEventHeader": header, **payload},
                 "event": {"replayId": replay}},
    }  # fmt: skip


def test_a_cometd_lead_create_routes_like_pubsub() -> None:
    """Compound Name and Address flatten to REST names; a CREATE routes to lead.route."""
    message = _event("Lead", "CREATE", {
        "Name": {"FirstName": "Ada", "LastName": "Ng"}, "Company": "Acme",
        "Address": {"Country": "UK"}, "CreatedDate": "2026-01-05T10:00:00.000Z",
    })  # fmt: skip
    [change] = cometd_changes(message, "/data/LeadChangeEvent")
    assert change.fields == {
        "FirstName": "Ada", "LastName": "Ng", "Company": "Acme", "Country": "UK",
        "CreatedDate": "2026-01-05T10:00:00.000Z",
    }  # fmt: skip
    assert change.commit_timestamp == datetime(2026, 1, 5, 10, tzinfo=UTC)
    [routed] = route(change, own_client="leadfleet")  # type: ignore[misc]
    assert isinstance(routed, LeadCreatedMessage)
    assert routed.record_id == LEAD


def test_a_cometd_task_update_keeps_what_changed() -> None:
    """An UPDATE completing a task (without WhoId) gives a first-touch message, lead unknown."""
    message = _event("Task", "UPDATE", {"Status": "Completed", "LastModifiedDate": "x"},
                     record_ids=[TASK], changed=["Status", "LastModifiedDate"])  # fmt: skip
    [change] = cometd_changes(message, "/data/TaskChangeEvent")
    [routed] = route(change, own_client="leadfleet")  # type: ignore[misc]
    assert isinstance(routed, ResponseActivityMessage)
    assert routed.lead_id is None


def test_own_echoes_over_cometd_are_dropped() -> None:
    """changeOrigin client=leadfleet is recognised the same way as over Pub/Sub."""
    message = _event("Lead", "CREATE", {"Company": "Acme"},
                     origin="com/salesforce/api/rest/62.0;client=leadfleet")  # fmt: skip
    [change] = cometd_changes(message, "/data/LeadChangeEvent")
    assert not isinstance(route(change, own_client="leadfleet"), list)


@pytest.mark.parametrize("replay", [1, 255, 2**40, -1], ids=["one", "byte", "large", "new-only"])
def test_replay_ids_round_trip_through_checkpoint_bytes(replay: int) -> None:
    """An integer replay id survives storage as checkpoint bytes."""
    assert replay_int(replay_bytes(replay)) == replay


class _Response:
    def __init__(self, body: Any, status: int = 200) -> None:
        self._body = body
        self.status_code = status
        self.content = b""

    def json(self) -> Any:
        return self._body


class FakeSession:
    """Answers Bayeux requests from a script of replies, recording what was sent."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies
        self.sent: list[dict[str, Any]] = []

    def post(self, url: str, *, json: list[dict[str, Any]], headers: Mapping[str, str],
             timeout: Any) -> _Response:  # fmt: skip
        self.sent.append(json[0])
        reply = self.replies.pop(0)
        return reply if isinstance(reply, _Response) else _Response(reply)


class FakeTokens:
    def __init__(self) -> None:
        self.invalidated = 0

    def token(self) -> AccessToken:
        now = datetime.now(UTC)
        return AccessToken(access_token=SecretStr("00D!t"), instance_url="https://org.example",
                           issued_at=now, expires_at=now + timedelta(hours=1))  # fmt: skip

    def invalidate(self, token: AccessToken) -> bool:
        self.invalidated += 1
        return True


def _client(replies: list[Any]) -> tuple[CometdClient, FakeSession, FakeTokens]:
    session, tokens = FakeSession(replies), FakeTokens()
    client = CometdClient(session, tokens, instance_url="", api_version="62.0", timeout=5)  # type: ignore[arg-type]
    return client, session, tokens


def test_handshake_subscribe_connect_carries_the_replay_extension() -> None:
    """Subscribe sends ext.replay for the channel; connect returns the event messages."""
    event = _event("Lead", "CREATE", {"Company": "Acme"})
    client, session, _ = _client([
        [{"channel": "/meta/handshake", "successful": True, "clientId": "c1",
          "advice": {"timeout": 2000, "interval": 0}}],
        [{"channel": "/meta/subscribe", "successful": True}],
        [event, {"channel": "/meta/connect", "successful": True}],
    ])  # fmt: skip
    client.handshake()
    client.subscribe("/data/LeadChangeEvent", 41)
    assert client.connect() == [event]
    assert session.sent[1]["ext"] == {"replay": {"/data/LeadChangeEvent": 41}}
    assert session.sent[2]["clientId"] == "c1"


def test_unknown_client_asks_for_a_new_handshake() -> None:
    """403::Unknown client with advice handshake raises RehandshakeNeeded."""
    client, _, _ = _client([
        [{"channel": "/meta/handshake", "successful": True, "clientId": "c1"}],
        [{"channel": "/meta/connect", "successful": False, "error": "403::Unknown client",
          "advice": {"reconnect": "handshake"}}],
    ])  # fmt: skip
    client.handshake()
    with pytest.raises(RehandshakeNeeded):
        client.connect()


def test_an_invalid_replay_id_is_reported_for_reconciliation() -> None:
    """A 400 about the replayId raises ReplayRejected, not a generic failure."""
    client, _, _ = _client([
        [{"channel": "/meta/handshake", "successful": True, "clientId": "c1"}],
        [{"channel": "/meta/subscribe", "successful": False,
          "error": "400::The replayId {41} you provided was invalid."}],
    ])  # fmt: skip
    client.handshake()
    with pytest.raises(ReplayRejected):
        client.subscribe("/data/LeadChangeEvent", 41)


def test_a_401_drops_the_token() -> None:
    """An HTTP 401 invalidates the token before failing."""
    client, _, tokens = _client([_Response([{"error": "401::Authentication invalid"}], 401)])
    with pytest.raises(SessionExpiredError):
        client.handshake()
    assert tokens.invalidated == 1
