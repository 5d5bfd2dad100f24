"""`python -m workers.metrics_exporter`: the fleet's Prometheus endpoint, read from Redis.

One process serves the whole fleet, however many workers run: on each scrape it reads the
counts the workers keep in Redis (workers/metrics.py) and what Redis holds besides (queue
lengths, unacknowledged messages, dead letters, the flywheel backlog, the org's API usage).
It receives nothing from the workers and needs no discovery of them. ``/healthz`` answers
while the process runs; ``leadfleet_metrics_redis_up`` says whether Redis could be read.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError

from shared.errors import ConfigError
from shared.flywheel.buffer import FLUSH_GROUP, stream_key
from shared.messages import QUEUES
from shared.probe_http import ProbeHandler
from shared.settings import load_settings
from workers.metrics import (
    COUNTERS,
    GAUGES,
    HISTOGRAMS,
    PREFIX,
    RUNTIME_BUCKETS,
    LabelPairs,
    MetricsStore,
    redis_client,
)

__all__ = ["ExporterServer", "FleetCollector", "build_registry", "main", "parse_args"]

log = logging.getLogger("workers.metrics_exporter")

QUEUE_NAMES: tuple[str, ...] = tuple(queue.value for queue in QUEUES)
# kombu's Redis transport: priority sub-queues are `<queue>\x06\x16<n>`, unacked messages a hash.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_UNACKED_KEY = "unacked"


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class FleetCollector(Collector):
    """Everything the exporter serves, read from Redis when scraped."""

    def __init__(
        self,
        redis: Redis,
        key_prefix: str,
        *,
        queues: Sequence[str] = QUEUE_NAMES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._store = MetricsStore(redis, key_prefix)
        self._queues = tuple(queues)
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        """The metric families; a Redis failure yields leadfleet_metrics_redis_up 0 only."""
        up = _family("metrics_redis_up")
        try:
            families = list(self._stored()) + list(self._redis_state())
        except (RedisError, OSError) as exc:
            log.warning("cannot read Redis: %s", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from families

    def _stored(self) -> Iterator[Any]:
        counters: dict[str, dict[LabelPairs, float]] = {}
        histograms: dict[str, dict[LabelPairs, dict[str, float]]] = {}
        for (name, labels), value in self._store.read().items():
            for part in ("_bucket", "_sum", "_count"):
                if name.endswith(part) and name.removesuffix(part) in HISTOGRAMS:
                    base = name.removesuffix(part)
                    plain = tuple(p for p in labels if p[0] != "le")
                    slot = histograms.setdefault(base, {}).setdefault(plain, {})
                    key = dict(labels).get("le", "") if part == "_bucket" else part
                    slot[key] = slot.get(key, 0.0) + value
                    break
            else:
                if name in COUNTERS:
                    counters.setdefault(name, {})[labels] = value
        for name, help_text in COUNTERS.items():
            series = counters.get(name, {})
            label_names = _label_names(series)
            family = CounterMetricFamily(
                PREFIX + name.removesuffix("_total"), help_text, labels=label_names
            )
            for labels, value in sorted(series.items()):
                values = dict(labels)
                family.add_metric([values.get(n, "") for n in label_names], value)
            yield family
        for name, help_text in HISTOGRAMS.items():
            series_h = histograms.get(name, {})
            label_names = _label_names(series_h)
            family_h = HistogramMetricFamily(PREFIX + name, help_text, labels=label_names)
            for labels, parts in sorted(series_h.items()):
                values = dict(labels)
                family_h.add_metric(
                    [values.get(n, "") for n in label_names],
                    _cumulative(parts),
                    sum_value=parts.get("_sum", 0.0),
                )
            yield family_h

    def _redis_state(self) -> Iterator[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for queue in self._queues:
            pipe.llen(queue)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
        pipe.hlen(_UNACKED_KEY)
        pipe.xlen(f"{self._prefix}:deadletter")
        answers = pipe.execute()
        per_queue = 1 + len(_PRIORITY_STEPS)
        queued = _family("queue_messages", "queue")
        for index, queue in enumerate(self._queues):
            chunk = answers[index * per_queue : (index + 1) * per_queue]
            queued.add_metric([queue], float(sum(int(n or 0) for n in chunk)))
        yield queued
        offset = len(self._queues) * per_queue
        yield _gauge("queue_unacked_messages", answers[offset])
        yield _gauge("dead_letters", answers[offset + 1])
        yield _gauge("flywheel_unflushed_records", self._flywheel_backlog())
        yield from self._api_usage()

    def _flywheel_backlog(self) -> float:
        stream = stream_key(self._prefix)
        try:
            groups = self._redis.xinfo_groups(stream)
        except RedisError:
            # No stream yet (nothing recorded), or no group yet: every entry is unflushed.
            return float(self._redis.xlen(stream))
        for group in groups or []:
            if _decode(group.get("name")) == FLUSH_GROUP:
                lag = group.get("lag")
                pending = group.get("pending") or 0
                if lag is None:
                    return float(self._redis.xlen(stream))
                return float(int(lag) + int(pending))
        return float(self._redis.xlen(stream))

    def _api_usage(self) -> Iterator[Any]:
        used = _family("salesforce_api_requests_used", "org")
        maximum = _family("salesforce_api_requests_max", "org")
        age = _family("salesforce_api_usage_age_seconds", "org")
        pattern = f"{self._prefix}:ratelimit:salesforce:*:api_usage"
        head = f"{self._prefix}:ratelimit:salesforce:"
        for raw_key in self._redis.scan_iter(match=pattern, count=100):
            key = _decode(raw_key)
            org = key.removeprefix(head).removesuffix(":api_usage")
            raw = self._redis.get(key)
            if raw is None:
                continue
            try:
                record = json.loads(_decode(raw))
                values = (float(record["used"]), float(record["max"]), float(record["at"]))
            except (ValueError, TypeError, KeyError):
                continue
            used.add_metric([org], values[0])
            maximum.add_metric([org], values[1])
            age.add_metric([org], max(0.0, self._clock() - values[2]))
        yield used
        yield maximum
        yield age


def _label_names(series: Mapping[LabelPairs, Any]) -> list[str]:
    return sorted({name for labels in series for name, _ in labels})


def _cumulative(parts: Mapping[str, float]) -> list[tuple[str, float]]:
    running = 0.0
    buckets: list[tuple[str, float]] = []
    for bound in RUNTIME_BUCKETS:
        running += parts.get(repr(float(bound)), 0.0)
        buckets.append((repr(float(bound)), running))
    running += parts.get("+Inf", 0.0)
    buckets.append(("+Inf", running))
    return buckets


def _family(name: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, GAUGES[name], labels=list(labels))


def _gauge(name: str, value: Any) -> GaugeMetricFamily:
    family = _family(name)
    family.add_metric([], float(value or 0))
    return family


class ExporterServer:
    """/metrics (the registry) and /healthz on a threaded HTTP server."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        return int(self._server.server_address[1])

    def serve_forever(self) -> None:
        """Serve until shutdown() is called from another thread."""
        self._server.serve_forever()

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        registry = self._registry

        class Handler(ProbeHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/healthz":
                    self._send(HTTPStatus.OK, "application/json", b'{"status": "ok"}')
                else:
                    self._send(HTTPStatus.NOT_FOUND, "application/json", b'{"error": "not found"}')

        return Handler


def build_registry(redis: Redis, key_prefix: str) -> CollectorRegistry:
    """A private registry holding the fleet collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(redis, key_prefix))
    return registry


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The exporter's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.metrics",
        description="Serve the fleet's Prometheus metrics, read from Redis on each scrape.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=9110, help="port to listen on (9110)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve /metrics until SIGTERM or SIGINT; the process exit code."""
    args = parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    redis = redis_client(settings)
    server = ExporterServer(args.host, args.port, build_registry(redis, settings.redis.key_prefix))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("serving metrics on %s:%d", args.host, server.port)
    server.serve_forever()
    redis.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
