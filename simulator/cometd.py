"""The legacy Streaming API: change events over CometD (Bayeux long-polling) at /cometd/<version>.

What a client sees, as on Salesforce (API versions 59.0 to 66.0 are served):

- every POST carries `Authorization: Bearer <token>` (or `OAuth <token>`); without a live session
  the answer is HTTP 401 with `401::Request requires authentication` (no header) or
  `401::Authentication invalid` (a handshake says `403::Handshake denied` with that reason);
- /meta/handshake gives a clientId, long-polling and the replay extension;
- /meta/subscribe takes `ext.replay {"<channel>": -1 | -2 | replayId}`: -1 new events only (the
  default), -2 every retained event, an id resumes after it (an invalid or expired id fails with
  `400::The replayId {N} you provided was invalid...`);
- /meta/connect holds the request until events arrive or the advice timeout passes, and answers
  events first, then the connect reply with advice {reconnect: retry, interval, timeout};
- a client that has not connected for the expiry time (simulator clock) is forgotten: its next
  message gets `403::Unknown client` with advice reconnect=handshake;
- /meta/disconnect forgets the client.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.cdc_events import cometd_payload
from simulator.cdc_schema import change_event_schema, topic_entities
from simulator.clock import epoch_ms
from simulator.eventbus import EventBus
from simulator.org import Org

MIN_VERSION, MAX_VERSION = 59.0, 66.0
MAX_BODY_BYTES = 32_768
EVENTS_PER_CONNECT = 100
POLL_SECONDS = 0.025
NEW_EVENTS, ALL_EVENTS = -1, -2
Message = dict[str, Any]


@dataclass
class CometdClient:
    """One handshaken client: its user, channels (with the position delivered up to) and activity."""

    client_id: str
    user_id: str
    last_seen_ms: int
    subscriptions: dict[str, int] = field(default_factory=dict)
    connecting: int = 0


def _reply(message: Message, channel: str, **fields: Any) -> Message:
    reply: Message = {"channel": channel, **fields}
    if "id" in message:
        reply["id"] = message["id"]
    return reply


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") and token.strip() else None


def _supported(version: str) -> bool:
    try:
        number = float(version)
    except ValueError:
        return False
    return MIN_VERSION <= number <= MAX_VERSION


class CometdServer:
    """Bayeux sessions over the event bus, and the HTTP endpoint that serves them."""

    def __init__(
        self,
        org: Org,
        bus: EventBus,
        *,
        timeout_seconds: float = 110.0,
        client_expiry_seconds: float = 40.0,
    ) -> None:
        self._org = org
        self._bus = bus
        self.timeout_seconds = timeout_seconds
        self.client_expiry_seconds = client_expiry_seconds
        self._clients: dict[str, CometdClient] = {}
        self._lock = threading.Lock()
        self._closing = False

    def _advice(self) -> Message:
        return {"reconnect": "retry", "interval": 0, "timeout": int(self.timeout_seconds * 1000)}

    def close(self) -> None:
        """Answer held connects now (server shutdown)."""
        self._closing = True

    def _client(self, client_id: object) -> CometdClient | None:
        now_ms = epoch_ms(self._org.clock.now())
        with self._lock:
            client = self._clients.get(str(client_id))
            if client is None:
                return None
            idle_ms = now_ms - client.last_seen_ms
            if not client.connecting and idle_ms > self.client_expiry_seconds * 1000:
                del self._clients[client.client_id]
                return None
            return client

    def _unknown_client(self, message: Message, channel: str) -> Message:
        return _reply(
            message,
            channel,
            clientId=message.get("clientId"),
            successful=False,
            error="403::Unknown client",
            advice={"reconnect": "handshake", "interval": 0},
        )

    def _handshake(self, message: Message, user_id: str) -> Message:
        types = message.get("supportedConnectionTypes") or ["long-polling"]
        if "long-polling" not in types:
            return _reply(
                message,
                "/meta/handshake",
                successful=False,
                error="403::Handshake denied",
                supportedConnectionTypes=["long-polling"],
                advice={"reconnect": "none"},
            )
        client = CometdClient(secrets.token_urlsafe(24), user_id, epoch_ms(self._org.clock.now()))
        with self._lock:
            self._clients[client.client_id] = client
        return _reply(
            message,
            "/meta/handshake",
            clientId=client.client_id,
            version="1.0",
            minimumVersion="1.0",
            supportedConnectionTypes=["long-polling"],
            successful=True,
            ext={"replay": True, "payload.format": True},
            advice=self._advice(),
        )

    def _subscribe(self, message: Message) -> Message:
        client = self._client(message.get("clientId"))
        if client is None:
            return self._unknown_client(message, "/meta/subscribe")
        channel = str(message.get("subscription", ""))
        base = {"clientId": client.client_id, "subscription": channel}
        if topic_entities(channel) is None:
            error = f"400::The channel you requested to subscribe to does not exist {{{channel}}}"
            return _reply(message, "/meta/subscribe", **base, successful=False, error=error)
        replay = (message.get("ext") or {}).get("replay") or {}
        wanted = replay.get(channel, NEW_EVENTS) if isinstance(replay, dict) else NEW_EVENTS
        position: int | None = None
        if wanted == NEW_EVENTS:
            position = self._bus.latest_position
        elif wanted == ALL_EVENTS:
            position = self._bus.earliest_position()
        elif isinstance(wanted, int) and not isinstance(wanted, bool):
            position = wanted if self._bus.valid_replay_position(wanted) else None
        if position is None:
            error = (
                f"400::The replayId {{{wanted}}} you provided was invalid. Please provide a valid "
                "ID, -2 to replay all events, or -1 to replay only new events."
            )
            return _reply(message, "/meta/subscribe", **base, successful=False, error=error)
        with self._lock:
            client.subscriptions[channel] = position
        return _reply(message, "/meta/subscribe", **base, successful=True)

    def _unsubscribe(self, message: Message) -> Message:
        client = self._client(message.get("clientId"))
        if client is None:
            return self._unknown_client(message, "/meta/unsubscribe")
        channel = str(message.get("subscription", ""))
        with self._lock:
            client.subscriptions.pop(channel, None)
        return _reply(
            message,
            "/meta/unsubscribe",
            clientId=client.client_id,
            subscription=channel,
            successful=True,
        )

    def _disconnect(self, message: Message) -> Message:
        client_id = str(message.get("clientId"))
        with self._lock:
            known = self._clients.pop(client_id, None) is not None
        if not known:
            return self._unknown_client(message, "/meta/disconnect")
        return _reply(message, "/meta/disconnect", clientId=client_id, successful=True)

    def _collect(self, client: CometdClient) -> list[Message]:
        delivered: list[Message] = []
        with self._lock:
            subscriptions = dict(client.subscriptions)
        for channel, cursor in subscriptions.items():
            room = EVENTS_PER_CONNECT - len(delivered)
            if room <= 0:
                break
            entries, scanned = self._bus.read(channel, cursor, room)
            for entry in entries:
                delivered.append(
                    {
                        "channel": channel,
                        "data": {
                            "schema": change_event_schema(entry.entity).schema_id,
                            "payload": cometd_payload(entry),
                            "event": {"replayId": entry.position},
                        },
                    }
                )
            with self._lock:
                if channel in client.subscriptions:
                    client.subscriptions[channel] = scanned
        return delivered

    async def _connect(self, message: Message) -> list[Message]:
        client = self._client(message.get("clientId"))
        if client is None:
            return [self._unknown_client(message, "/meta/connect")]
        with self._lock:
            client.connecting += 1
        try:
            deadline = time.monotonic() + self.timeout_seconds
            events = self._collect(client)
            while not events and not self._closing and time.monotonic() < deadline:
                with self._lock:
                    cursors = list(client.subscriptions.values())
                seen = min(cursors, default=self._bus.latest_position)
                if self._bus.latest_position > seen:
                    events = self._collect(client)
                    continue
                await asyncio.sleep(POLL_SECONDS)
        finally:
            with self._lock:
                client.connecting -= 1
                client.last_seen_ms = epoch_ms(self._org.clock.now())
        reply = _reply(
            message,
            "/meta/connect",
            clientId=client.client_id,
            successful=True,
            advice=self._advice(),
        )
        return [*events, reply]

    async def _answer(self, message: Message, user_id: str) -> list[Message]:
        channel = message.get("channel")
        if channel == "/meta/handshake":
            return [self._handshake(message, user_id)]
        if channel == "/meta/connect":
            return await self._connect(message)
        if channel == "/meta/subscribe":
            return [self._subscribe(message)]
        if channel == "/meta/unsubscribe":
            return [self._unsubscribe(message)]
        if channel == "/meta/disconnect":
            return [self._disconnect(message)]
        return [_reply(message, str(channel), successful=False, error="403::Publish denied")]

    def _denied(self, messages: list[Message], token: str | None) -> Response:
        replies = []
        for message in messages:
            channel = str(message.get("channel", ""))
            if token is None:
                error, extra = "401::Request requires authentication", {}
            elif channel == "/meta/handshake":
                error = "403::Handshake denied"
                extra = {"ext": {"sfdc": {"failureReason": "401::Authentication invalid"}}}
            else:
                error, extra = "401::Authentication invalid", {}
            replies.append(
                _reply(
                    message,
                    channel,
                    successful=False,
                    error=error,
                    advice={"reconnect": "none"},
                    **extra,
                )
            )
        return JSONResponse(replies, status_code=401)

    async def endpoint(self, request: Request) -> Response:
        """POST /cometd/<version>[/<message type>]: one batch of Bayeux messages."""
        if not _supported(request.path_params.get("version", "")):
            return JSONResponse([{"errorCode": "NOT_FOUND", "message": "Unknown version"}], 404)
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return Response("Maximum Request Size Exceeded", status_code=413)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse([{"successful": False, "error": "400::Bad JSON"}], 400)
        messages = [body] if isinstance(body, dict) else body
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return JSONResponse([{"successful": False, "error": "400::Bad message"}], 400)
        token = _token(request)
        session = self._org.tokens.validate(token) if token else None
        if session is None:
            return self._denied(messages, token)
        replies: list[Message] = []
        for message in messages:
            replies.extend(await self._answer(message, session.user_id))
        return JSONResponse(replies)
