"""Fallback mode ``--mode cometd``: change events over the Streaming API's CometD long-polling.

Bayeux over HTTPS at ``<instance>/cometd/<api version>`` with ``Authorization: Bearer``:
handshake, then one subscribe per channel carrying the replay extension
(``ext.replay = {channel: <stored replay id> | -1}``), then ``/meta/connect`` in a loop,
waiting as the server's advice says. ``403::Unknown client`` (the server forgot the client) or
advice ``reconnect: handshake`` starts over with a handshake and the subscriptions; a 401
drops the token first. A subscribe refused because the stored replay id is no longer valid
reconciles the lost window, then subscribes with -1 (new events only).

CometD delivers JSON: ``{"channel", "data": {"schema", "payload": {ChangeEventHeader, fields},
"event": {"replayId": int}}}``, with field names instead of bitmaps and date-times as strings.
`cometd_changes` turns that into the same NormalizedChange the Pub/Sub path makes, so the
same dispatch rules give the same queue messages. Replay ids are integers here; checkpoints
are kept apart from the Pub/Sub ones (``<prefix>:cometd:replay:<topic>``), as 8 bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pydantic import JsonValue

from listener.backoff import Backoff
from listener.connection import TokenSource
from listener.metrics import ListenerMetrics
from listener.normalize import FULL_SNAPSHOT_TYPES, NormalizedChange, origin_client, rest_name
from listener.pipeline import Pipeline
from listener.subscriber import CheckpointStore
from shared.errors import LeadfleetError
from shared.salesforce.errors import error_from_response

log = logging.getLogger(__name__)

NEW_EVENTS = -1
HANDSHAKE_ADVICE = "handshake"
# Salesforce holds a connect for up to 110 s (advice.timeout); the read timeout must outlast it.
_DEFAULT_POLL_MS = 110_000
_READ_MARGIN_SECONDS = 15.0


class CometdError(LeadfleetError):
    """The CometD server refused a request."""


class RehandshakeNeeded(CometdError):
    """The server forgot this client (``403::Unknown client``): handshake and subscribe again."""


class ReplayRejected(CometdError):
    """A subscribe was refused because its replay id is invalid or past the retention."""


def replay_bytes(replay_id: int) -> bytes:
    """A CometD integer replay id as the 8 bytes a checkpoint stores."""
    return replay_id.to_bytes(8, "big", signed=True)


def replay_int(stored: bytes) -> int:
    """A stored checkpoint back as a CometD replay id."""
    return int.from_bytes(stored, "big", signed=True)


def cometd_changes(message: Mapping[str, Any], topic: str) -> list[NormalizedChange]:
    """One NormalizedChange per record id of a CometD change event message."""
    data = message.get("data") or {}
    payload: Mapping[str, Any] = data.get("payload") or {}
    header: Mapping[str, Any] = payload.get("ChangeEventHeader") or {}
    replay_id = int((data.get("event") or {}).get("replayId", 0))
    change_type = str(header.get("changeType", ""))
    record_ids = tuple(str(rid) for rid in header.get("recordIds") or ())
    origin = str(header.get("changeOrigin") or "")
    fields = _flatten(payload)
    changed = _flat_names(header.get("changedFields") or ())
    if change_type not in FULL_SNAPSHOT_TYPES:
        # CometD sends only what changed (plus LastModifiedDate); keep that, as Pub/Sub does.
        fields = {k: v for k, v in fields.items() if v is not None or k in changed}
    commit_ms = int(header.get("commitTimestamp") or 0)
    base = NormalizedChange(
        topic=topic,
        replay_id=replay_bytes(replay_id),
        index=0,
        record_id=None,
        record_ids=record_ids,
        entity=str(header.get("entityName", "")),
        change_type=change_type,
        change_origin=origin,
        origin_client=origin_client(origin),
        transaction_key=str(header.get("transactionKey") or ""),
        sequence_number=int(header.get("sequenceNumber") or 0),
        commit_timestamp=datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=commit_ms),
        commit_number=int(header.get("commitNumber") or 0),
        commit_user=str(header.get("commitUser") or ""),
        changed_fields=changed,
        nulled_fields=_flat_names(header.get("nulledFields") or ()),
        diff_fields=_flat_names(header.get("diffFields") or ()),
        fields={},
    )
    if not record_ids:
        return [base] if change_type == "GAP_OVERFLOW" else []
    return [
        replace(base, index=i, record_id=record_id, fields=dict(fields))
        for i, record_id in enumerate(record_ids)
    ]


def _flatten(payload: Mapping[str, Any]) -> dict[str, JsonValue]:
    fields: dict[str, JsonValue] = {}
    for name, value in payload.items():
        if name == "ChangeEventHeader":
            continue
        if isinstance(value, Mapping):
            for child, child_value in value.items():
                fields[rest_name(name, str(child))] = child_value
        else:
            fields[name] = value
    return fields


def _flat_names(names: Sequence[Any]) -> tuple[str, ...]:
    flat: dict[str, None] = {}
    for name in names:
        parent, dot, child = str(name).partition(".")
        flat[rest_name(parent, child) if dot else parent] = None
    return tuple(flat)


class CometdClient:
    """One Bayeux client: handshake, subscribe with replay, long-poll connect, disconnect."""

    def __init__(
        self,
        http: requests.Session,
        tokens: TokenSource,
        *,
        instance_url: str,
        api_version: str,
        timeout: float,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._instance_url = instance_url.rstrip("/")
        self._api_version = api_version
        self._timeout = timeout
        self._client_id: str | None = None
        self._poll_ms = _DEFAULT_POLL_MS
        self._interval_ms = 0
        self._message_id = 0
        self._token: Any = None

    def __repr__(self) -> str:
        return f"CometdClient(version={self._api_version!r})"

    @property
    def interval_seconds(self) -> float:
        """The wait the server advised between connects."""
        return self._interval_ms / 1000

    def handshake(self) -> None:
        """Start a Bayeux session; CometdError when refused."""
        self._client_id = None
        reply = self._exchange(
            {
                "channel": "/meta/handshake",
                "version": "1.0",
                "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"],
                "ext": {"replay": True},
            }
        )[0]
        if not reply.get("successful"):
            raise CometdError(f"handshake refused: {reply.get('error', 'no reason given')}")
        self._client_id = str(reply["clientId"])
        self._advise(reply.get("advice"))

    def subscribe(self, channel: str, replay_id: int) -> None:
        """Subscribe to a channel from a replay id (-1 new events, -2 everything retained)."""
        reply = self._exchange(
            {
                "channel": "/meta/subscribe",
                "clientId": self._require_client(),
                "subscription": channel,
                "ext": {"replay": {channel: replay_id}},
            }
        )[0]
        if reply.get("successful"):
            return
        error = str(reply.get("error", ""))
        if error.startswith("400") and "replayid" in error.lower():
            raise ReplayRejected(f"subscribe {channel}: {error}")
        self._raise_for(reply, f"subscribe {channel}")

    def connect(self) -> list[dict[str, Any]]:
        """One long-poll; the event messages it returned (possibly none)."""
        messages = self._exchange(
            {
                "channel": "/meta/connect",
                "clientId": self._require_client(),
                "connectionType": "long-polling",
            },
            read_timeout=self._poll_ms / 1000 + _READ_MARGIN_SECONDS,
        )
        events: list[dict[str, Any]] = []
        for message in messages:
            channel = str(message.get("channel", ""))
            if channel == "/meta/connect":
                self._advise(message.get("advice"))
                if not message.get("successful"):
                    self._raise_for(message, "connect")
            elif not channel.startswith("/meta/") and "data" in message:
                events.append(message)
        return events

    def disconnect(self) -> None:
        """End the session (best effort: the server forgets idle clients anyway)."""
        if self._client_id is None:
            return
        try:
            self._exchange({"channel": "/meta/disconnect", "clientId": self._client_id})
        except (CometdError, requests.RequestException) as exc:
            log.info("cometd disconnect failed", extra={"error": type(exc).__name__})
        self._client_id = None

    def _require_client(self) -> str:
        if self._client_id is None:
            raise RehandshakeNeeded("no CometD session")
        return self._client_id

    def _advise(self, advice: Any) -> None:
        if not isinstance(advice, Mapping):
            return
        if isinstance(advice.get("timeout"), int | float):
            self._poll_ms = int(advice["timeout"])
        if isinstance(advice.get("interval"), int | float):
            self._interval_ms = int(advice["interval"])

    def _raise_for(self, reply: Mapping[str, Any], what: str) -> None:
        error = str(reply.get("error", "refused"))
        advice = reply.get("advice") or {}
        if error.startswith("403::Unknown client") or advice.get("reconnect") == HANDSHAKE_ADVICE:
            self._client_id = None
            raise RehandshakeNeeded(f"{what}: {error}")
        if error.startswith("401") or advice.get("reconnect") == "none":
            self._drop_token()
        raise CometdError(f"{what}: {error}")

    def _drop_token(self) -> None:
        if self._token is not None:
            self._tokens.invalidate(self._token)
            self._token = None

    def _exchange(
        self, message: dict[str, Any], *, read_timeout: float | None = None
    ) -> list[dict[str, Any]]:
        self._message_id += 1
        body = [{**message, "id": str(self._message_id)}]
        token = self._tokens.token()
        self._token = token
        url = f"{self._instance_url or token.instance_url}/cometd/{self._api_version}"
        headers = {"Authorization": f"Bearer {token.access_token.get_secret_value()}"}
        try:
            response = self._http.post(
                url,
                json=body,
                headers=headers,
                timeout=(self._timeout, read_timeout or self._timeout),
            )
        except requests.RequestException as exc:
            raise error_from_response(503, type(exc).__name__, "cometd") from None
        if response.status_code == 401:
            self._drop_token()
            self._client_id = None
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, "cometd")
        replies = response.json()
        if not isinstance(replies, list) or not replies:
            raise CometdError(f"{message['channel']}: the server's answer is not a Bayeux list")
        return [r for r in replies if isinstance(r, dict)]


class CometdRunner:
    """Keeps the CometD subscriptions going and feeds their events through the pipeline."""

    def __init__(
        self,
        topics: Sequence[str],
        *,
        client: CometdClient,
        pipeline: Pipeline,
        checkpoints: CheckpointStore,
        metrics: ListenerMetrics,
        backoff: Backoff,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._topics = list(topics)
        self._client = client
        self._pipeline = pipeline
        self._checkpoints = checkpoints
        self._metrics = metrics
        self._backoff = backoff
        self._clock = clock
        self._monotonic = monotonic
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Stop after the batch in hand (the long-poll in flight is abandoned)."""
        self._stopping.set()

    def run(self) -> None:
        """Handshake, subscribe, and long-poll until stopped."""
        while not self._stopping.is_set():
            reason = "closed"
            try:
                self._session()
            except RehandshakeNeeded as exc:
                log.info("cometd handshake again", extra={"reason": str(exc)})
                self._metrics.reconnects.labels("cometd", "handshake").inc()
                continue
            except (LeadfleetError, OSError, ValueError) as exc:
                reason = type(exc).__name__
                log.warning("cometd session failed", extra={"error": f"{reason}: {exc}"})
            finally:
                self._mark_connected(False)
            if self._stopping.is_set():
                break
            self._metrics.reconnects.labels("cometd", reason).inc()
            self._stopping.wait(self._backoff.next_delay())
        self._client.disconnect()

    def _session(self) -> None:
        self._client.handshake()
        for topic in self._topics:
            self._subscribe(topic)
        self._mark_connected(True)
        while not self._stopping.is_set():
            events = self._client.connect()
            self._backoff.reset()
            now = self._monotonic()
            for topic in self._topics:
                self._metrics.status(topic).mark_activity(now)
            self._handle(events)
            if self._client.interval_seconds:
                self._stopping.wait(self._client.interval_seconds)

    def _subscribe(self, topic: str) -> None:
        stored = self._checkpoints.checkpoint(topic)
        replay = replay_int(stored.replay_id) if stored is not None else NEW_EVENTS
        try:
            self._client.subscribe(topic, replay)
        except ReplayRejected:
            since = stored.committed_at if stored is not None else self._clock()
            log.warning("cometd replay id rejected; reconciling", extra={"topic": topic})
            self._pipeline.reconcile_lost_position(
                topic, replay_id=replay_bytes(replay), since=since
            )
            self._client.subscribe(topic, NEW_EVENTS)
        log.info("subscribed", extra={"topic": topic, "mode": "cometd", "replay_id": replay})

    def _handle(self, events: Sequence[Mapping[str, Any]]) -> None:
        if not events:
            return
        started = time.perf_counter()
        dispatched = dropped = 0
        for message in events:
            topic = str(message.get("channel", ""))
            outcome = self._pipeline.dispatch(topic, cometd_changes(message, topic))
            dispatched += outcome.dispatched
            dropped += sum(outcome.dropped.values())
            replay = int(((message.get("data") or {}).get("event") or {}).get("replayId", 0))
            self._checkpoints.commit(topic, replay_bytes(replay), committed_at=self._clock())
            self._metrics.status(topic).mark_commit(self._monotonic())
        log.info(
            "batch",
            extra={
                "mode": "cometd",
                "events": len(events),
                "dispatched": dispatched,
                "dropped": dropped,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

    def _mark_connected(self, connected: bool) -> None:
        for topic in self._topics:
            self._metrics.status(topic).mark_connected(connected)
