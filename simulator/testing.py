"""Run a simulator inside a test process and control it: the fixture helper for every test suite.

with running_simulator(tmp_path) as sim:
    token = sim.access_token()
    sim.inject_fault("/services/data/*/sobjects/Lead*", "unable_to_lock_row", count=1)
    with sim.pubsub_channel() as channel:
        stub = PubSubStub(channel)  # calls carry metadata=sim.pubsub_metadata(token)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import jwt
import requests

from simulator.anthropic_faults import AnthropicFault
from simulator.anthropic_meter import MessageRecord
from simulator.changelog import ChangeEntry
from simulator.faults import FaultRule
from simulator.oauth import JWT_GRANT
from simulator.options import SimulatorOptions, default_policy_path
from simulator.requestlog import RequestRecord
from simulator.server import Simulator

HTTP_TIMEOUT_SECONDS = 10.0


class SimulatorHandle:
    """A running simulator: connection details and the control operations of the admin API."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        info = simulator.connection_info()
        self.instance_url: str = info["instance_url"]
        self.login_url: str = info["login_url"]
        self.ca_bundle = Path(info["ca_bundle"])
        self.consumer_key: str = info["consumer_key"]
        self.username: str = info["username"]
        self.private_key_path = Path(info["private_key_path"])
        self.pubsub_target: str = info["pubsub_target"]

    @property
    def org(self) -> Any:
        """The in-process org (data, clock, limits) for assertions that need more than the API."""
        return self.simulator.org

    @property
    def org_id(self) -> str:
        """The org's 18-character id."""
        return str(self.simulator.org.identity.org_id)

    @property
    def user_id(self) -> str:
        """The integration user's id."""
        return str(self.simulator.org.identity.integration_user_id)

    @property
    def intake_queue_id(self) -> str:
        """The "Lead Intake" queue the default assignment rule gives every lead."""
        return str(self.simulator.org.identity.intake_queue_id)

    def assertion(
        self,
        *,
        subject: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: float = 180,
        private_key: bytes | None = None,
    ) -> str:
        """A signed JWT bearer assertion; each claim can be overridden to test rejections."""
        claims: dict[str, Any] = {
            "iss": issuer or self.consumer_key,
            "sub": subject or self.username,
            "aud": audience or self.login_url,
            "exp": int(self.simulator.org.clock.now().timestamp() + expires_in),
        }
        key = private_key or self.private_key_path.read_bytes()
        return jwt.encode(claims, key, algorithm="RS256")

    def token_response(self, assertion: str | None = None) -> requests.Response:
        """POST an assertion to the token endpoint and return the raw response."""
        return requests.post(
            f"{self.login_url}/services/oauth2/token",
            data={"grant_type": JWT_GRANT, "assertion": assertion or self.assertion()},
            verify=str(self.ca_bundle),
            timeout=HTTP_TIMEOUT_SECONDS,
        )

    def access_token(self, username: str | None = None) -> str:
        """Exchange a JWT for an access token (the integration user's unless named)."""
        response = self.token_response(self.assertion(subject=username))
        response.raise_for_status()
        return str(response.json()["access_token"])

    def session(self, token: str | None = None) -> requests.Session:
        """A requests session that trusts the simulator's CA and carries a bearer token."""
        session = requests.Session()
        session.verify = str(self.ca_bundle)
        # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would otherwise replace `verify` on every request.
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {token or self.access_token()}"
        return session

    def inject_fault(
        self,
        route: str,
        kind: str,
        *,
        method: str | None = None,
        probability: float = 1.0,
        count: int | None = None,
        latency_ms: float | tuple[float, float] | None = None,
    ) -> FaultRule:
        """Install a fault rule (kinds: http_503, http_500, unable_to_lock_row,
        request_limit_exceeded, invalid_session_id, latency)."""
        return self.simulator.org.faults.add(
            route, kind, method=method, probability=probability, count=count, latency_ms=latency_ms
        )

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.simulator.org.faults.clear()

    def revoke_tokens(self, token: str | None = None) -> int:
        """Revoke one access token, or all of them."""
        return int(self.simulator.org.tokens.revoke(token))

    def shift_clock(self, seconds: float) -> None:
        """Move the simulator's clock (CreatedDate, token expiry, the limits day)."""
        self.simulator.org.clock.shift(seconds)

    def state(self) -> dict[str, Any]:
        """Counts per sobject, API usage, emails sent and the like."""
        return dict(self.simulator.org.state())

    def requests_log(self) -> list[RequestRecord]:
        """Every logged request, oldest first."""
        return list(self.simulator.org.requests.entries())

    def change_log(self, since: int = 0) -> list[ChangeEntry]:
        """Committed changes after a position."""
        return list(self.simulator.org.changelog.read(since))

    def change_log_position(self) -> int:
        """The newest change's position (read it before acting, then `change_log(since=...)`)."""
        return int(self.simulator.org.changelog.latest_position)

    def set_assignment_rule(
        self,
        *,
        enabled: bool = True,
        default_owner_id: str | None = None,
        entries: list[dict[str, str]] | None = None,
        on_update: bool = True,
    ) -> None:
        """Replace the Lead assignment rule (disable it with enabled=False)."""
        self.simulator.org.set_assignment_rule(
            enabled=enabled, default_owner_id=default_owner_id, entries=entries, on_update=on_update
        )

    def set_limit(self, name: str, maximum: int) -> None:
        """Change a limit's Max (DailyApiRequests, SingleEmail, ...)."""
        self.simulator.org.limits.set_max(name, maximum)

    def reset(self) -> None:
        """Re-seed the org and forget usage, faults, logs and clock shifts (tokens stay valid)."""
        self.simulator.org.reset()

    @property
    def anthropic_base_url(self) -> str:
        """Base URL of the Anthropic-compatible Messages API (the SDK appends /v1/messages)."""
        return self.instance_url

    @property
    def anthropic_api_key(self) -> str:
        """The API key the simulated Messages API accepts."""
        return str(self.simulator.anthropic.api_key)

    def inject_anthropic_fault(
        self,
        kind: str,
        *,
        probability: float = 1.0,
        count: int | None = None,
        latency_ms: float | tuple[float, float] | None = None,
        retry_after: float = 1.0,
    ) -> AnthropicFault:
        """Install a Messages API fault (kinds: latency, rate_limit, overloaded, api_error,
        text_only, out_of_enum)."""
        return self.simulator.anthropic.add_fault(
            kind,
            probability=probability,
            count=count,
            latency_ms=latency_ms,
            retry_after=retry_after,
        )

    def clear_anthropic_faults(self) -> None:
        """Remove every Messages API fault."""
        self.simulator.anthropic.clear_faults()

    def anthropic_requests(self) -> list[MessageRecord]:
        """Every /v1/messages request answered, oldest first, with its token usage."""
        return list(self.simulator.anthropic.requests())

    def anthropic_usage(self) -> dict[str, int]:
        """Requests and tokens (input, output, cache read, cache creation) over the log."""
        return dict(self.simulator.anthropic.usage())

    def reset_anthropic(self) -> None:
        """Forget Messages API faults, the request log and the prompt cache."""
        self.simulator.anthropic.reset()

    def pubsub_channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS credentials that trust the simulator's CA, for `grpc.secure_channel`."""
        return grpc.ssl_channel_credentials(root_certificates=self.ca_bundle.read_bytes())

    def pubsub_channel(self) -> grpc.Channel:
        """A TLS channel to the Pub/Sub API server (close it, or use it as a context manager)."""
        return grpc.secure_channel(self.pubsub_target, self.pubsub_channel_credentials())

    def pubsub_metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """The call metadata the Pub/Sub API expects: accesstoken, instanceurl, tenantid."""
        return (
            ("accesstoken", token or self.access_token()),
            ("instanceurl", self.instance_url),
            ("tenantid", self.org_id),
        )

    def cometd_url(self, version: str = "62.0") -> str:
        """The CometD (Streaming API) endpoint."""
        return f"{self.instance_url}/cometd/{version}"

    def inject_gap(self, entity: str, change_type: str, record_ids: Sequence[str]) -> ChangeEntry:
        """Emit a GAP_CREATE/GAP_UPDATE/GAP_DELETE/GAP_UNDELETE event (header only) for records."""
        return self.simulator.cdc.inject_gap(entity, change_type, record_ids)

    def inject_gap_overflow(self, entity: str) -> ChangeEntry:
        """Emit a GAP_OVERFLOW event for an object (no record ids, no fields)."""
        return self.simulator.cdc.inject_overflow(entity)

    def fail_subscribes(self, count: int = 1) -> None:
        """Answer the next `count` Subscribe calls with UNAVAILABLE service.unavailable."""
        self.simulator.cdc.fail_subscribes(count)

    def drop_streams(self) -> int:
        """Cut every open Subscribe call (UNAVAILABLE); returns how many were open."""
        return self.simulator.cdc.drop_streams()

    def expire_events(self, before: datetime | None = None) -> None:
        """Take every change event committed before a moment (now by default) out of retention."""
        self.simulator.cdc.expire_events(before)


@contextmanager
def running_simulator(
    state_dir: Path, *, seed: int = 7, **options: Any
) -> Iterator[SimulatorHandle]:
    """Start a simulator on free ports in this process and stop it cleanly afterwards.

    Options are SimulatorOptions fields, e.g. pubsub_keepalive_seconds=0.2,
    pubsub_idle_timeout_seconds=1, retention_hours=1, cometd_timeout_seconds=0.5.
    """
    settings = replace(
        SimulatorOptions(),
        state_dir=state_dir,
        port=0,
        pubsub_port=0,
        seed=seed,
        policy_path=options.pop("policy_path", default_policy_path()),
    )
    settings = replace(settings, **options)
    simulator = Simulator(settings)
    simulator.start()
    try:
        yield SimulatorHandle(simulator)
    finally:
        simulator.stop()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll a condition until it holds or the timeout passes (for asynchronous effects)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
