"""The simulator process: TLS files, the org, the ASGI app under uvicorn, the Pub/Sub gRPC server."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from simulator import actions, admin, composite, rest, tooling
from simulator.anthropic_api import AnthropicApi, api_key_for
from simulator.anthropic_api import routes as anthropic_routes
from simulator.cdc_control import CdcControl
from simulator.cometd import CometdServer
from simulator.eventbus import EventBus
from simulator.gateway import (
    data_endpoint,
    guarded,
    revoke_endpoint,
    token_endpoint,
    userinfo_endpoint,
)
from simulator.options import SimulatorOptions
from simulator.org import Org, OrgOptions
from simulator.org_setup import OrgSetup
from simulator.pubsub_server import PubSubServer, PubSubTls
from simulator.pubsub_stream import StreamTimings
from simulator.routing import Router
from simulator.tls import make_connected_app, make_server_tls

START_TIMEOUT_SECONDS = 15.0
STOP_GRACE_SECONDS = 5.0
ALL_METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]


def build_router() -> Router:
    """The REST resources, in matching order."""
    router = Router()
    rest.register(router)
    composite.register(router)
    actions.register(router)
    tooling.register(router)
    return router


def build_app(
    org: Org, identity: Any, cometd: CometdServer | None = None, cdc: CdcControl | None = None
) -> Starlette:
    """The ASGI app: Salesforce's endpoints (faulted and logged) plus the admin API."""
    router = build_router()
    data = guarded(org, data_endpoint(org, router))
    streaming: list[BaseRoute] = []
    if cometd is not None:
        bayeux = guarded(org, cometd.endpoint)
        streaming = [
            Route("/cometd/{version}", bayeux, methods=["POST"]),
            Route("/cometd/{version}/{kind:path}", bayeux, methods=["POST"]),
        ]
    routes: list[BaseRoute] = [
        Route("/services/oauth2/token", guarded(org, token_endpoint(org)), methods=["POST"]),
        Route(
            "/services/oauth2/userinfo",
            guarded(org, userinfo_endpoint(org)),
            methods=["GET", "POST"],
        ),
        Route("/services/oauth2/revoke", guarded(org, revoke_endpoint(org)), methods=["POST"]),
        Route("/services/data", data, methods=ALL_METHODS),
        Route("/services/data/{rest:path}", data, methods=ALL_METHODS),
        *streaming,
        *admin.routes(org, identity, cdc),
    ]
    return Starlette(routes=routes)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it a response's headers and body meet the
    # client's delayed ACK and every request takes ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Simulator:
    """One running simulated org over HTTPS; start() returns once it accepts connections."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        state_dir = options.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        public_hosts = (options.public_host,) if options.public_host else ()
        self.tls = make_server_tls(state_dir, public_hosts)
        self.connected_app = make_connected_app(state_dir, options.seed)
        self.org = Org(
            OrgOptions(
                state_dir=state_dir,
                seed=options.seed,
                policy_path=options.policy_path,
                token_ttl_seconds=options.token_ttl_seconds,
                daily_api_limit=options.daily_api_limit,
                single_email_limit=options.single_email_limit,
                setup=OrgSetup.parse(options.missing_fields, options.cdc_disabled),
            ),
            self.connected_app,
        )
        self._socket = _bind(options.host, options.port)
        self.port: int = self._socket.getsockname()[1]
        url_host = "127.0.0.1" if options.host in ("0.0.0.0", "127.0.0.1") else options.host  # noqa: S104
        # Containers reach the simulator by its service name, so that is the URL it hands out.
        url_host = options.public_host or url_host
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        self.base_url = f"https://{url_host}:{self.port}"
        self.org.base_urls = [self.base_url, f"https://localhost:{self.port}"]
        if options.public_host:
            self.org.base_urls.append(f"https://127.0.0.1:{self.port}")
        self.bus = EventBus(self.org, options.retention_hours)
        self.pubsub = PubSubServer(
            self.bus,
            lambda: self.org.base_urls,
            host=options.host,
            port=options.pubsub_port,
            tls=None if options.pubsub_plaintext else PubSubTls(self.tls.cert_chain, self.tls.key),
            timings=StreamTimings(
                options.pubsub_keepalive_seconds, options.pubsub_idle_timeout_seconds
            ),
        )
        self.pubsub_target = f"{url_host}:{self.pubsub.port}"
        self.cdc = CdcControl(self.bus, self.pubsub.service, self.pubsub.faults)
        self.cometd = CometdServer(
            self.org,
            self.bus,
            timeout_seconds=options.cometd_timeout_seconds,
            client_expiry_seconds=options.cometd_client_expiry_seconds,
        )
        self.app = build_app(self.org, self.connection_info, self.cometd, self.cdc)
        # The Anthropic-compatible Messages API shares the HTTPS port (simulator/anthropic_api.py).
        self.anthropic = AnthropicApi(api_keys=[api_key_for(options.seed)], seed=options.seed)
        self.app.router.routes.extend(anthropic_routes(self.anthropic))
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(self.tls.cert_chain),
            ssl_keyfile=str(self.tls.key),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=2,
            ws="none",
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_info(self) -> dict[str, Any]:
        """What a client needs to connect: the start-up line's document (plus the org id)."""
        return {
            "instance_url": self.base_url,
            "ca_bundle": str(self.tls.ca_bundle.resolve()),
            "consumer_key": self.connected_app.consumer_key,
            "username": self.org.identity.username,
            "private_key_path": str(self.connected_app.private_key_path.resolve()),
            "login_url": self.base_url,
            "org_id": self.org.identity.org_id,
            "pubsub_target": self.pubsub_target,
            "pubsub_tls": not self.options.pubsub_plaintext,
        }

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._socket])

    def _abort_connections(self) -> None:
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def start(self) -> None:
        """Serve in a background thread; returns when both servers accept connections."""
        self.pubsub.start()
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(),),
            name=f"simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.pubsub.stop()
                raise RuntimeError(f"the simulator did not start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving, wait for in-flight requests and streams, and close the database."""
        self.pubsub.stop()
        self.cometd.close()
        self._server.should_exit = True
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        aborted = False
        while self._thread is not None and self._thread.is_alive():
            # Idle TLS keep-alive connections wait for the peer's close_notify, which pooled
            # clients never send; once no request is in flight they are cut instead.
            if not aborted and self._loop is not None and not self._server.server_state.tasks:
                self._loop.call_soon_threadsafe(self._abort_connections)
                aborted = True
            if time.monotonic() > deadline:
                self._server.force_exit = True
            self._thread.join(timeout=0.02)
        self._socket.close()
        self.org.store.close()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(options: SimulatorOptions) -> None:
    """Start, print the connection line of JSON to stdout, and serve until SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    simulator = Simulator(options)
    simulator.start()
    info = simulator.connection_info()
    startup = {k: info[k] for k in _STARTUP_KEYS}
    if options.connection_file is not None:
        write_private_text(options.connection_file, json.dumps(startup) + "\n")
    if options.fleet_env_file is not None:
        write_private_text(options.fleet_env_file, fleet_env(info))
    print(json.dumps(startup), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()


def fleet_env(info: dict[str, Any]) -> str:
    """LEADFLEET_* lines (shell-quoted) that point the listener and the workers at this org."""
    host, _, port = str(info["pubsub_target"]).rpartition(":")
    values = {
        "LEADFLEET_SALESFORCE__LOGIN_URL": info["login_url"],
        "LEADFLEET_SALESFORCE__INSTANCE_URL": info["instance_url"],
        "LEADFLEET_SALESFORCE__CONSUMER_KEY": info["consumer_key"],
        "LEADFLEET_SALESFORCE__USERNAME": info["username"],
        "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH": info["private_key_path"],
        "LEADFLEET_SALESFORCE__CA_BUNDLE": info["ca_bundle"],
        "LEADFLEET_LISTENER__PUBSUB_HOST": host.strip("[]"),
        "LEADFLEET_LISTENER__PUBSUB_PORT": port,
        "LEADFLEET_LISTENER__PUBSUB_PLAINTEXT": str(not info["pubsub_tls"]).lower(),
    }
    return "".join(f"{name}={shlex.quote(str(value))}\n" for name, value in values.items())


def write_private_text(path: Path, text: str) -> None:
    """Replace a file atomically, readable by its owner only (it names the connected app)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    partial.replace(path)


_STARTUP_KEYS = ("instance_url", "ca_bundle", "consumer_key", "username", "private_key_path",
                 "login_url", "pubsub_target")  # fmt: skip
