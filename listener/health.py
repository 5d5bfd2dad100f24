"""The listener's HTTP endpoint: /healthz (alive), /readyz (able to do its job), /metrics.

Readiness means every subscribed topic's stream is open, Redis answers, and each topic saw an
event or a keepalive within the staleness threshold (Salesforce sends a keepalive at least
every 270 s while events are requested, so silence past that means a stuck stream). It is a
pure function of the statuses and `now`; the server only gathers them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from listener.metrics import ListenerMetrics, StreamStatus
from shared.probe_http import ProbeHandler

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the listener is ready, and the checks that failed when it is not."""

    ready: bool
    failing: tuple[str, ...]


def assess_readiness(
    statuses: Sequence[StreamStatus],
    *,
    redis_reachable: bool,
    now: float,
    stale_after: float,
) -> Readiness:
    """Ready when Redis answers and every stream is open and active within stale_after seconds."""
    failing: list[str] = []
    if not redis_reachable:
        failing.append("redis: unreachable")
    if not statuses:
        failing.append("streams: none started")
    for status in statuses:
        connected, last_activity, _ = status.snapshot()
        if not connected:
            failing.append(f"stream {status.topic}: not connected")
        elif last_activity is None:
            failing.append(f"stream {status.topic}: no event or keepalive yet")
        elif now - last_activity > stale_after:
            failing.append(
                f"stream {status.topic}: no event or keepalive for {now - last_activity:.0f} s"
            )
    return Readiness(not failing, tuple(failing))


class HealthServer:
    """A small threaded HTTP server for the probes and the metrics, on its own thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        metrics: ListenerMetrics,
        redis_ping: Callable[[], bool],
        stale_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._redis_ping = redis_ping
        self._stale_after = stale_after
        self._clock = clock
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        return int(self._server.server_address[1])

    def readiness(self) -> Readiness:
        """Assess readiness now."""
        return assess_readiness(
            self._metrics.statuses(),
            redis_reachable=self._redis_ping(),
            now=self._clock(),
            stale_after=self._stale_after,
        )

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="listener-health", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(ProbeHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(HTTPStatus.OK, "application/json", b'{"status": "ok"}')
                elif path == "/readyz":
                    readiness = owner.readiness()
                    body = json.dumps(
                        {
                            "status": "ready" if readiness.ready else "not ready",
                            "failing": list(readiness.failing),
                        }
                    ).encode()
                    code = HTTPStatus.OK if readiness.ready else HTTPStatus.SERVICE_UNAVAILABLE
                    self._send(code, "application/json", body)
                elif path == "/metrics":
                    self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, owner._metrics.render())
                else:
                    self._send(HTTPStatus.NOT_FOUND, "application/json", b'{"error": "not found"}')

        return Handler
