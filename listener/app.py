"""The listener's composition root: `build_listener(settings, mode)` wires every adapter by hand.

Nothing connects while building except binding the health port; `Listener.start` starts the
health server and one thread per runner (a topic subscriber in gRPC mode, one CometD client or
one poller otherwise), and `Listener.stop` stops them after the batch in hand and closes
connections.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Protocol

import redis
import requests
from redis.exceptions import RedisError

from listener.backoff import Backoff
from listener.cometd import CometdClient, CometdRunner
from listener.connection import GrpcPubSub, PubSubAuth, build_channel
from listener.decode import EventDecoder
from listener.health import HealthServer
from listener.metrics import ListenerMetrics
from listener.pipeline import Pipeline
from listener.poll import Poller, PollState
from listener.recovery import Recovery, SalesforceRecordReader
from listener.replay_store import ReplayStore
from listener.subscriber import SubscriberSettings, TopicSubscriber
from shared.dead_letter import DeadLetterStream
from shared.queue_producer import Producer, build_producer
from shared.salesforce.auth import JwtBearerAuth
from shared.salesforce.errors import error_from_response
from shared.salesforce.wire import build_http_session
from shared.settings import LeadfleetSettings

log = logging.getLogger(__name__)

Mode = Literal["grpc", "cometd", "poll"]
MODES: tuple[Mode, ...] = ("grpc", "cometd", "poll")
_STOP_GRACE_SECONDS = 30.0


class Runner(Protocol):
    """Something that runs until stopped, in a thread of its own."""

    def run(self) -> None:
        """Work until stop() is called."""
        ...

    def stop(self) -> None:
        """Finish the unit of work in hand and return from run()."""
        ...


@dataclass
class Listener:
    """A built listener: its runners, the health server, and what to close at the end."""

    mode: Mode
    runners: Sequence[tuple[str, Runner]]
    health: HealthServer | None
    metrics: ListenerMetrics
    closers: list[Callable[[], None]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start the health server and every runner."""
        if self.health is not None:
            self.health.start()
        for name, runner in self.runners:
            thread = threading.Thread(target=runner.run, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "listener started",
            extra={
                "mode": self.mode,
                "runners": [name for name, _ in self.runners],
                "health_port": self.health.port if self.health is not None else None,
            },
        )

    def stop(self, grace_seconds: float = _STOP_GRACE_SECONDS) -> None:
        """Stop every runner after its batch in hand, then close connections."""
        for _, runner in self.runners:
            runner.stop()
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.health is not None:
            self.health.stop()
        for close in self.closers:
            try:
                close()
            except Exception:
                log.exception("closing a connection failed")
        log.info("listener stopped", extra={"mode": self.mode})

    def alive(self) -> bool:
        """True while any runner thread is running."""
        return any(thread.is_alive() for thread in self._threads)


def build_listener(
    settings: LeadfleetSettings,
    mode: Mode = "grpc",
    *,
    health: bool = True,
    producer: Producer | None = None,
) -> Listener:
    """Wire the listener for a mode from settings (the process's one composition root).

    `producer` replaces the Celery producer (a benchmark measuring the pipeline without Redis).
    """
    listener_settings = settings.listener
    prefix = settings.redis.key_prefix
    redis_client = redis.Redis.from_url(
        settings.redis.url,
        socket_timeout=settings.redis.socket_timeout_seconds,
        socket_connect_timeout=settings.redis.socket_timeout_seconds,
    )
    metrics = ListenerMetrics()
    celery_producer = build_producer(settings.redis) if producer is None else None
    producer = producer or celery_producer
    assert producer is not None
    http = build_http_session(settings.salesforce)
    auth = JwtBearerAuth(settings.salesforce, redis_client, key_prefix=prefix, http=http)
    reader = SalesforceRecordReader(settings.salesforce, auth, http=http)
    dead_letters = DeadLetterStream(
        redis_client, prefix, max_length=listener_settings.dead_letter_max_length
    )
    closers: list[Callable[[], None]] = [http.close, redis_client.close]
    if celery_producer is not None:
        closers.insert(0, celery_producer.close)
    backoff_base = listener_settings.reconnect_backoff_base_seconds
    backoff_cap = listener_settings.reconnect_backoff_cap_seconds
    topics = listener_settings.topics

    def pipeline_with(decoder: EventDecoder) -> Pipeline:
        return Pipeline(
            decoder=decoder,
            producer=producer,
            dead_letters=dead_letters,
            recovery=Recovery(reader),
            metrics=metrics,
            own_client=settings.salesforce.call_options_client,
            overflow_margin=timedelta(seconds=listener_settings.overflow_margin_seconds),
        )

    runners: list[tuple[str, Runner]] = []
    if mode == "grpc":
        channel = build_channel(
            listener_settings.pubsub_host,
            listener_settings.pubsub_port,
            plaintext=listener_settings.pubsub_plaintext,
            ca_bundle=settings.salesforce.ca_bundle,
        )
        pubsub = GrpcPubSub(
            channel,
            PubSubAuth(
                auth,
                http=http,
                instance_url=settings.salesforce.instance_url,
                timeout=settings.salesforce.timeout_seconds,
            ),
            timeout=listener_settings.rpc_timeout_seconds,
        )
        closers.insert(0, pubsub.close)
        pipeline = pipeline_with(EventDecoder(pubsub))
        subscriber_settings = SubscriberSettings(
            batch_size=listener_settings.batch_size,
            backoff_base_seconds=backoff_base,
            backoff_cap_seconds=backoff_cap,
            retention=timedelta(hours=listener_settings.replay_retention_hours),
            initial_preset=listener_settings.initial_replay_preset,
        )
        checkpoints = ReplayStore(redis_client, prefix)
        for topic in topics:
            subscriber = TopicSubscriber(
                topic,
                pubsub=pubsub,
                pipeline=pipeline,
                checkpoints=checkpoints,
                metrics=metrics,
                settings=subscriber_settings,
            )
            runners.append((f"subscriber {topic}", subscriber))
    elif mode == "cometd":
        cometd_http = build_http_session(settings.salesforce)
        closers.insert(0, cometd_http.close)
        client = CometdClient(
            cometd_http,
            auth,
            instance_url=settings.salesforce.instance_url,
            api_version=settings.salesforce.api_version,
            timeout=settings.salesforce.timeout_seconds,
        )
        runner = CometdRunner(
            topics,
            client=client,
            pipeline=pipeline_with(EventDecoder(_NoSchemas())),
            checkpoints=ReplayStore(redis_client, f"{prefix}:cometd"),
            metrics=metrics,
            backoff=Backoff(backoff_base, backoff_cap),
        )
        runners.append(("cometd", runner))
    else:
        overlap = timedelta(seconds=listener_settings.poll_overlap_seconds)
        poller = Poller(
            topics,
            recovery=Recovery(reader),
            pipeline=pipeline_with(EventDecoder(_NoSchemas())),
            state=PollState(redis_client, prefix, seen_ttl=overlap * 3 + timedelta(minutes=5)),
            metrics=metrics,
            interval=timedelta(seconds=listener_settings.poll_interval_seconds),
            overlap=overlap,
            backoff=Backoff(backoff_base, backoff_cap),
            own_user=lambda: _integration_user_id(auth, http, settings.salesforce.timeout_seconds),
        )
        runners.append(("poller", poller))
    for topic in topics:
        metrics.status(topic)

    def redis_ping() -> bool:
        try:
            return bool(redis_client.ping())
        except (RedisError, OSError):
            return False

    health_server = (
        HealthServer(
            listener_settings.http_host,
            listener_settings.http_port,
            metrics=metrics,
            redis_ping=redis_ping,
            stale_after=_stale_after(mode, listener_settings.keepalive_stale_seconds,
                                     listener_settings.poll_interval_seconds),
        )
        if health
        else None
    )  # fmt: skip
    return Listener(mode, runners, health_server, metrics, closers)


def _stale_after(mode: Mode, keepalive_stale: float, poll_interval: float) -> float:
    # A poller is active once per interval; a stream at least once per keepalive.
    return max(keepalive_stale, poll_interval * 3) if mode == "poll" else keepalive_stale


class _NoSchemas:
    """CometD and polling deliver JSON, never Avro; asking for a schema is a bug."""

    def get_schema(self, schema_id: str) -> str:
        raise LookupError(f"no Avro schemas in this mode (asked for {schema_id!r})")


def _integration_user_id(auth: JwtBearerAuth, http: requests.Session, timeout: float) -> str | None:
    """The user leadfleet writes as: when polling, what it wrote is its own echo."""
    token = auth.token()
    try:
        response = http.get(
            token.instance_url + "/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {token.access_token.get_secret_value()}"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise error_from_response(503, type(exc).__name__, "oauth2/userinfo") from None
    if response.status_code != 200:
        raise error_from_response(response.status_code, response.content, "oauth2/userinfo")
    user_id = response.json().get("user_id")
    return str(user_id) if user_id else None
