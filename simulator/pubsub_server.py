"""The Pub/Sub API (`eventbus.v1.PubSub`) over gRPC: GetTopic, GetSchema and Subscribe.

A thread-pool grpcio server on its own port, with TLS from the simulator's CA (plaintext only
when asked). Every call is authenticated first (see pubsub_auth). Change data capture channels
can only be subscribed to, so Publish, PublishStream and ManagedSubscribe answer UNIMPLEMENTED.
GetTopic on /data/ChangeEvents, which carries several objects, reports the Lead event schema;
each event names its own schema id.

Faults for tests: `fail_subscribes(n)` answers the next n Subscribe calls with
service.unavailable, and `drop_streams()` cuts every open Subscribe call (UNAVAILABLE without
a Pub/Sub error code, as a reset connection looks to a client).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from shared.pubsub import pubsub_api_pb2 as pb
from shared.pubsub import pubsub_api_pb2_grpc as pb_grpc
from simulator.cdc_schema import change_event_schema, schema_by_id, topic_entities
from simulator.eventbus import EventBus
from simulator.pubsub_auth import Authenticator
from simulator.pubsub_errors import (
    MANAGED_UNSUPPORTED,
    PUBLISH_UNSUPPORTED,
    SCHEMA_EMPTY,
    SERVICE_UNAVAILABLE,
    TOPIC_EMPTY,
    fail,
    new_rpc_id,
    schema_not_found,
    topic_not_found,
)
from simulator.pubsub_stream import StreamServer, StreamTimings, Subscription

# Each open Subscribe call holds a worker thread for its lifetime.
MAX_WORKERS = 64
STOP_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class PubSubTls:
    """The server certificate chain and key gRPC serves with."""

    cert_chain: Path
    key: Path


class SubscribeFaults:
    """Injected failures of Subscribe calls: how many new calls to answer UNAVAILABLE."""

    def __init__(self) -> None:
        self._unavailable = 0
        self._lock = threading.Lock()

    def fail_next(self, count: int = 1) -> int:
        """Answer the next `count` Subscribe calls with service.unavailable."""
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._unavailable = count
            return self._unavailable

    def take_unavailable(self) -> bool:
        """Whether this call is one to fail (and count it)."""
        with self._lock:
            if self._unavailable <= 0:
                return False
            self._unavailable -= 1
            return True

    @property
    def remaining(self) -> int:
        """Subscribe calls still to fail."""
        with self._lock:
            return self._unavailable


class PubSubService(pb_grpc.PubSubServicer):
    """The RPCs, over one event bus."""

    def __init__(
        self,
        bus: EventBus,
        auth: Authenticator,
        timings: StreamTimings,
        faults: SubscribeFaults,
    ) -> None:
        self._bus = bus
        self._auth = auth
        self._timings = timings
        self._faults = faults
        self._streams: set[Subscription] = set()
        self._lock = threading.Lock()

    def GetTopic(self, request: pb.TopicRequest, context: Any) -> pb.TopicInfo:
        """A channel's metadata: subscribable, not publishable, its schema id."""
        rpc_id = new_rpc_id()
        self._auth.require(context, rpc_id)
        if not request.topic_name:
            fail(context, TOPIC_EMPTY, rpc_id)
        entities = topic_entities(request.topic_name)
        if entities is None:
            fail(context, topic_not_found(request.topic_name), rpc_id)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=str(self._bus.org.identity.org_id),
            can_publish=False,
            can_subscribe=True,
            schema_id=change_event_schema(entities[0]).schema_id,
            rpc_id=rpc_id,
        )

    def GetSchema(self, request: pb.SchemaRequest, context: Any) -> pb.SchemaInfo:
        """The Avro schema JSON with this id."""
        rpc_id = new_rpc_id()
        self._auth.require(context, rpc_id)
        if not request.schema_id:
            fail(context, SCHEMA_EMPTY, rpc_id)
        schema = schema_by_id(request.schema_id)
        if schema is None:
            fail(context, schema_not_found(request.schema_id), rpc_id)
        return pb.SchemaInfo(
            schema_json=schema.schema_json, schema_id=schema.schema_id, rpc_id=rpc_id
        )

    def Subscribe(
        self, request_iterator: Iterator[pb.FetchRequest], context: Any
    ) -> Iterator[pb.FetchResponse]:
        """Stream a channel's events as the client asks for them."""
        rpc_id = new_rpc_id()
        self._auth.require(context, rpc_id)
        if self._faults.take_unavailable():
            fail(context, SERVICE_UNAVAILABLE, rpc_id)
        subscription = Subscription()
        context.add_callback(subscription.close)
        with self._lock:
            self._streams.add(subscription)
        reader = threading.Thread(
            target=subscription.consume,
            args=(request_iterator,),
            name=f"pubsub-reader-{rpc_id[:8]}",
            daemon=True,
        )
        reader.start()
        try:
            yield from StreamServer(self._bus, subscription, context, rpc_id, self._timings).serve()
        finally:
            with self._lock:
                self._streams.discard(subscription)
            subscription.close()

    def Publish(self, request: pb.PublishRequest, context: Any) -> pb.PublishResponse:
        """Not for change events."""
        rpc_id = new_rpc_id()
        self._auth.require(context, rpc_id)
        fail(context, PUBLISH_UNSUPPORTED, rpc_id)

    def PublishStream(
        self, request_iterator: Iterator[pb.PublishRequest], context: Any
    ) -> Iterator[pb.PublishResponse]:
        """Not for change events."""
        rpc_id = new_rpc_id()
        self._auth.require(context, rpc_id)
        fail(context, PUBLISH_UNSUPPORTED, rpc_id)

    def ManagedSubscribe(
        self, request_iterator: Iterator[pb.ManagedFetchRequest], context: Any
    ) -> Iterator[pb.ManagedFetchResponse]:
        """Managed subscriptions are a beta the simulated org does not offer."""
        rpc_id = new_rpc_id()
        self._auth.require(context, rpc_id)
        fail(context, MANAGED_UNSUPPORTED, rpc_id)

    @property
    def open_streams(self) -> int:
        """Subscribe calls being served."""
        with self._lock:
            return len(self._streams)

    def drop_streams(self) -> int:
        """Cut every open Subscribe call; returns how many there were."""
        with self._lock:
            streams = list(self._streams)
        for subscription in streams:
            subscription.drop()
        return len(streams)

    def close_streams(self) -> None:
        """End every open Subscribe call cleanly (server shutdown)."""
        with self._lock:
            streams = list(self._streams)
        for subscription in streams:
            subscription.close()


class PubSubServer:
    """The gRPC server process part: bound on construction, serving after start()."""

    def __init__(
        self,
        bus: EventBus,
        instance_urls: Callable[[], list[str]],
        *,
        host: str,
        port: int,
        tls: PubSubTls | None,
        timings: StreamTimings,
    ) -> None:
        self.faults = SubscribeFaults()
        self.service = PubSubService(
            bus, Authenticator(bus.org, instance_urls), timings, self.faults
        )
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="pubsub"),
            # Without this a second simulator could bind the same fixed port and share calls.
            options=[("grpc.so_reuseport", 0)],
        )
        pb_grpc.add_PubSubServicer_to_server(self.service, self._server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if tls is None:
            self.port = self._server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key.read_bytes(), tls.cert_chain.read_bytes())]
            )
            self.port = self._server.add_secure_port(address, credentials)
        if not self.port:
            raise RuntimeError(f"the Pub/Sub API server could not bind {address}")

    def start(self) -> None:
        """Accept calls."""
        self._server.start()

    def stop(self) -> None:
        """End open streams, then stop accepting calls and wait for the server to finish."""
        self.service.close_streams()
        self._server.stop(STOP_GRACE_SECONDS).wait()
