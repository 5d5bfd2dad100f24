"""The gRPC connection to Salesforce's Pub/Sub API: channel, auth metadata, RPCs, error codes.

Every RPC carries ``accesstoken``, ``instanceurl`` and ``tenantid`` metadata. The tenant id is
the org id: the part of a Salesforce access token before ``!`` (15 characters, widened to 18),
or, for a token without that shape, the ``organization_id`` of ``/services/oauth2/userinfo``.
Pub/Sub errors are gRPC statuses whose Salesforce code is in the ``error-code`` trailer
(``sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted``...); clients branch on
that string, so `classify_stream_error` does too, with the status code as a fallback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import grpc
import requests

from shared.errors import ConfigError
from shared.pubsub import pubsub_api_pb2 as pb2
from shared.pubsub import pubsub_api_pb2_grpc as pb2_grpc
from shared.salesforce.auth import AccessToken
from shared.salesforce.errors import error_from_response
from shared.salesforce.ids import is_valid_id, to_18

log = logging.getLogger(__name__)

ERROR_CODE_KEY = "error-code"
_ERROR_PREFIX = "sfdc.platform.eventbus.grpc."
_REPLAY_INVALID = (
    "subscription.fetch.replayid.corrupted",
    "subscription.fetch.replayid.validation.failed",
)
_AUTH = (
    "service.auth.error",
    "service.auth.headers.invalid",
    "service.auth.refresh.invalid",
)
# Pub/Sub streams carry up to 100 events of up to 1 MB each; 4 MB is gRPC's default.
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class StreamErrorKind(StrEnum):
    """What a failed Pub/Sub call means for the subscriber; labels the reconnect metric."""

    REPLAY_INVALID = "replay_invalid"
    AUTH = "auth"
    UNAVAILABLE = "unavailable"
    TOPIC = "topic"
    OTHER = "error"


def error_code_of(error: grpc.RpcError) -> str | None:
    """The Salesforce error code from a failed call's ``error-code`` trailer, if any."""
    trailing = getattr(error, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    for key, value in metadata or ():
        if key.lower() == ERROR_CODE_KEY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def status_of(error: grpc.RpcError) -> grpc.StatusCode | None:
    """The gRPC status code of a failed call, if it has one."""
    code = getattr(error, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else None


def details_of(error: grpc.RpcError) -> str:
    """The failed call's status message (it names the rpcId, never a token)."""
    details = getattr(error, "details", None)
    value = details() if callable(details) else None
    return str(value or "")


def classify_stream_error(
    status: grpc.StatusCode | None, error_code: str | None
) -> StreamErrorKind:
    """Map a failed Pub/Sub call to what the subscriber does next."""
    suffix = (error_code or "").removeprefix(_ERROR_PREFIX)
    if suffix in _REPLAY_INVALID:
        return StreamErrorKind.REPLAY_INVALID
    if suffix in _AUTH or status == grpc.StatusCode.UNAUTHENTICATED:
        return StreamErrorKind.AUTH
    if suffix.startswith("topic.") or status == grpc.StatusCode.NOT_FOUND:
        return StreamErrorKind.TOPIC
    if suffix == "service.unavailable" or status == grpc.StatusCode.UNAVAILABLE:
        return StreamErrorKind.UNAVAILABLE
    return StreamErrorKind.OTHER


def tenant_id_from_token(access_token: str) -> str | None:
    """The org id a Salesforce access token starts with (``00D...!...``), as 18 characters."""
    prefix, bang, _ = access_token.partition("!")
    if not bang or not is_valid_id(prefix) or not prefix.startswith("00D"):
        return None
    return to_18(prefix) if len(prefix) == 15 else prefix


class TokenSource(Protocol):
    """Access tokens (JwtBearerAuth): a valid one, and forgetting one that was rejected."""

    def token(self) -> AccessToken:
        """A currently valid token."""
        ...

    def invalidate(self, token: AccessToken) -> bool:
        """Drop a token the server rejected."""
        ...


class PubSubAuth:
    """The three auth metadata pairs for the current token; re-authenticates on request."""

    def __init__(
        self,
        tokens: TokenSource,
        *,
        http: requests.Session | None = None,
        instance_url: str = "",
        timeout: float = 10.0,
    ) -> None:
        self._tokens = tokens
        self._http = http
        self._instance_url = instance_url.rstrip("/")
        self._timeout = timeout
        self._current: AccessToken | None = None
        self._tenants: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "PubSubAuth()"

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """accesstoken, instanceurl and tenantid for the current token."""
        token = self._tokens.token()
        with self._lock:
            self._current = token
        secret = token.access_token.get_secret_value()
        return (
            ("accesstoken", secret),
            ("instanceurl", self._instance_url or token.instance_url),
            ("tenantid", self._tenant_id(token)),
        )

    def reauthenticate(self) -> None:
        """Forget the token the server rejected, so the next call gets a fresh one."""
        with self._lock:
            token, self._current = self._current, None
        if token is not None:
            self._tokens.invalidate(token)

    def _tenant_id(self, token: AccessToken) -> str:
        secret = token.access_token.get_secret_value()
        from_token = tenant_id_from_token(secret)
        if from_token is not None:
            return from_token
        key = token.issued_at.isoformat() + token.instance_url
        if key not in self._tenants:
            self._tenants[key] = self._userinfo_org_id(token)
        return self._tenants[key]

    def _userinfo_org_id(self, token: AccessToken) -> str:
        if self._http is None:
            raise ConfigError("Pub/Sub auth", ["the access token does not name the org"])
        url = (self._instance_url or token.instance_url) + "/services/oauth2/userinfo"
        secret = token.access_token.get_secret_value()
        try:
            response = self._http.get(
                url, headers={"Authorization": f"Bearer {secret}"}, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise error_from_response(503, type(exc).__name__, "oauth2/userinfo") from None
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, "oauth2/userinfo")
        org_id = response.json().get("organization_id")
        if not isinstance(org_id, str) or not org_id:
            raise error_from_response(200, "userinfo has no organization_id", "oauth2/userinfo")
        return org_id


class SubscribeCall(Protocol):
    """An open Subscribe stream: FetchResponses as they come, and a way to end it."""

    def __iter__(self) -> Iterator[pb2.FetchResponse]:
        """The responses, until the stream ends or fails (grpc.RpcError)."""
        ...

    def __next__(self) -> pb2.FetchResponse:
        """The next response."""
        ...

    def cancel(self) -> bool:
        """End the stream from this side."""
        ...


class PubSubConnection(Protocol):
    """What the subscriber needs from the Pub/Sub API."""

    def get_topic(self, topic: str) -> pb2.TopicInfo:
        """TopicInfo (schema id, can_subscribe) of a topic."""
        ...

    def get_schema(self, schema_id: str) -> str:
        """The Avro schema JSON of an id; LookupError when the server does not know it."""
        ...

    def subscribe(self, requests: Iterator[pb2.FetchRequest]) -> SubscribeCall:
        """Open a Subscribe stream fed by `requests`."""
        ...

    def reauthenticate(self) -> None:
        """The server rejected the credentials: use fresh ones from the next call on."""
        ...


def build_channel(host: str, port: int, *, plaintext: bool, ca_bundle: Path | None) -> grpc.Channel:
    """A channel to the Pub/Sub API: TLS against the CA bundle (system roots when None)."""
    target = f"{host}:{port}"
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
        # HTTP/2 pings find a dead connection long before the next keepalive would be missed.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]
    if plaintext:
        return grpc.insecure_channel(target, options=options)
    roots = ca_bundle.read_bytes() if ca_bundle is not None else None
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(roots), options=options)


class GrpcPubSub:
    """PubSubConnection over a gRPC channel, every call with auth metadata and a timeout."""

    def __init__(self, channel: grpc.Channel, auth: PubSubAuth, *, timeout: float) -> None:
        self._channel = channel
        self._stub = pb2_grpc.PubSubStub(channel)
        self._auth = auth
        self._timeout = timeout

    def __repr__(self) -> str:
        return "GrpcPubSub()"

    def get_topic(self, topic: str) -> pb2.TopicInfo:
        """TopicInfo of a topic."""
        return self._stub.GetTopic(
            pb2.TopicRequest(topic_name=topic),
            metadata=self._auth.metadata(),
            timeout=self._timeout,
        )

    def get_schema(self, schema_id: str) -> str:
        """The schema JSON; LookupError for an id the server does not know."""
        try:
            info = self._stub.GetSchema(
                pb2.SchemaRequest(schema_id=schema_id),
                metadata=self._auth.metadata(),
                timeout=self._timeout,
            )
        except grpc.RpcError as exc:
            if status_of(exc) in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise LookupError(f"schema {schema_id!r}: {details_of(exc)}") from None
            raise
        return str(info.schema_json)

    def subscribe(self, requests: Iterator[pb2.FetchRequest]) -> SubscribeCall:
        """Open a Subscribe stream; it lives until cancelled or failed, so it has no deadline."""
        call: SubscribeCall = self._stub.Subscribe(requests, metadata=self._auth.metadata())
        return call

    def reauthenticate(self) -> None:
        """Drop the rejected token."""
        self._auth.reauthenticate()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
