"""The production client against the simulator: JWT auth, the fleet-wide token cache, faults, headers."""

from __future__ import annotations

import logging
import random
import threading
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import certifi
import pytest
import redis
import requests
from pydantic import SecretStr
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from shared.errors import InvalidInputError, RetryableError, SalesforceError
from shared.salesforce import (
    ApiUsage,
    JwtBearerAuth,
    RequestLimitExceededError,
    RowLockError,
    SalesforceAuthError,
    SalesforceClient,
    ServerError,
    SessionExpiredError,
    TransportError,
    build_salesforce_client,
)
from shared.salesforce.ids import to_18
from shared.salesforce.wire import build_http_session
from shared.settings import SalesforceSettings
from simulator.requestlog import RequestRecord
from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration

TOKEN_PATH = "/services/oauth2/token"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone, removed afterwards."""
    value = f"test-sfclient-{uuid.uuid4().hex}"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{value}:*"):
        client.delete(key)


@pytest.fixture
def faults(sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator, with every injected fault removed after the test."""
    yield sim
    sim.clear_faults()


def settings_for(sim: SimulatorHandle, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": sim.login_url,
        "consumer_key": SecretStr(sim.consumer_key),
        "username": sim.username,
        "private_key_path": sim.private_key_path,
        "ca_bundle": sim.ca_bundle,
        "api_version": "62.0",
    }
    return SalesforceSettings(**{**values, **overrides})


def client_for(sim: SimulatorHandle, prefix: str, **overrides: Any) -> SalesforceClient:
    return build_salesforce_client(
        settings_for(sim, **overrides), redis.Redis.from_url(REDIS_URL), key_prefix=prefix
    )


def mark(sf: Salesforce) -> str:
    """Send one unmistakable request so the log entries after it can be picked out."""
    marker = to_18(f"00Q{random.randrange(10**12):012d}")
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(marker)
    return marker


def requests_after(sim: SimulatorHandle, marker: str) -> list[RequestRecord]:
    log = sim.requests_log()
    last = max(i for i, r in enumerate(log) if r.path.endswith(marker))
    return log[last + 1 :]


def token_exchanges(sim: SimulatorHandle, marker: str) -> int:
    return sum(1 for r in requests_after(sim, marker) if r.path == TOKEN_PATH)


def new_lead(sf: Salesforce, **fields: Any) -> str:
    body = {"LastName": "Hopper", "Company": "Navy", **fields}
    return str(sf.Lead.create(body, headers={"Sforce-Auto-Assign": "FALSE"})["id"])


def new_user(sf: Salesforce) -> str:
    tag = uuid.uuid4().hex[:10]
    email = f"rep.{tag}@client.example"
    return str(sf.User.create({"Username": email, "LastName": "Rep", "Email": email})["id"])


def test_two_clients_share_one_token_through_redis(
    sim: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """The fleet exchanges one JWT: a second client with the same prefix reuses the cached token."""
    marker = mark(sf)
    first, second = client_for(sim, prefix), client_for(sim, prefix)
    first.limits()
    second.limits()

    assert token_exchanges(sim, marker) == 1
    api_calls = [r for r in requests_after(sim, marker) if r.path.endswith("/limits/")]
    assert [(r.status, r.client) for r in api_calls] == [(200, "leadfleet"), (200, "leadfleet")]
    ttl_ms = redis.Redis.from_url(REDIS_URL).pttl(f"{prefix}:salesforce:token")
    assert 0 < ttl_ms <= 3600 * 1000


def test_concurrent_refresh_does_one_exchange(
    sim: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """Threads that all find the cache empty wait on one refresh and get the same token."""
    settings = settings_for(sim)
    store = redis.Redis.from_url(REDIS_URL)
    auths = [
        JwtBearerAuth(settings, store, key_prefix=prefix, http=build_http_session(settings))
        for _ in range(8)
    ]
    barrier = threading.Barrier(len(auths))
    tokens: list[str] = []
    errors: list[BaseException] = []

    def run(auth: JwtBearerAuth) -> None:
        try:
            barrier.wait()
            tokens.append(auth.token().access_token.get_secret_value())
        except BaseException as exc:
            errors.append(exc)

    marker = mark(sf)
    threads = [threading.Thread(target=run, args=(auth,)) for auth in auths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(tokens) == len(auths)
    assert len(set(tokens)) == 1
    assert token_exchanges(sim, marker) == 1


def test_token_is_refreshed_before_it_expires(
    sim: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """Inside the refresh margin the next call fetches a new token; before it, the cached one serves."""
    now = datetime.now(UTC)
    # Short enough that the JWT's exp, taken from the same clock, stays within what the org accepts.
    settings = settings_for(sim, token_lifetime_seconds=200, token_refresh_margin_seconds=100)
    auth = JwtBearerAuth(
        settings,
        redis.Redis.from_url(REDIS_URL),
        key_prefix=prefix,
        http=build_http_session(settings),
        clock=lambda: now,
    )
    marker = mark(sf)
    first = auth.token()
    now += timedelta(seconds=99)
    assert auth.token() == first
    now += timedelta(seconds=2)
    second = auth.token()

    assert second.access_token != first.access_token
    assert second.expires_at == now + timedelta(seconds=200)
    assert token_exchanges(sim, marker) == 2


def test_late_invalidation_keeps_a_fresh_token(sim: SimulatorHandle, prefix: str) -> None:
    """Invalidating a token drops it once; a late report about it cannot drop its successor."""
    settings = settings_for(sim)
    store = redis.Redis.from_url(REDIS_URL)
    auth = JwtBearerAuth(settings, store, key_prefix=prefix, http=build_http_session(settings))
    rejected = auth.token()

    assert auth.invalidate(rejected) is True
    fresh = auth.token()
    assert fresh.access_token != rejected.access_token
    assert auth.invalidate(rejected) is False
    assert auth.token() == fresh


def test_unreachable_token_cache_is_retryable(sim: SimulatorHandle, prefix: str) -> None:
    """With Redis down a task gets a retryable error, not a crash that dead-letters the lead."""
    settings = settings_for(sim)
    dead_cache = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    auth = JwtBearerAuth(settings, dead_cache, key_prefix=prefix, http=build_http_session(settings))
    with pytest.raises(TransportError, match="token cache unavailable") as excinfo:
        auth.token()
    assert isinstance(excinfo.value, RetryableError)


def test_revoked_token_reauthenticates_once(
    sim: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """A 401 INVALID_SESSION_ID drops the cached token, logs in again and the call succeeds."""
    client = client_for(sim, prefix)
    client.limits()
    marker = mark(sf)
    sim.revoke_tokens()

    assert client.limits().limits["DailyApiRequests"].Max > 0
    limits_path = "/services/data/v62.0/limits/"
    assert [(r.path, r.status) for r in requests_after(sim, marker)] == [
        (limits_path, 401),
        (TOKEN_PATH, 200),
        (limits_path, 200),
    ]


def test_second_rejection_raises_session_expired(
    faults: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """When the fresh token is refused too, the client stops after one re-authentication."""
    client = client_for(faults, prefix)
    client.limits()
    marker = mark(sf)
    faults.inject_fault("/services/data/*/limits*", "invalid_session_id")

    with pytest.raises(SessionExpiredError) as raised:
        client.limits()
    assert isinstance(raised.value, RetryableError)
    limits_calls = [r for r in requests_after(faults, marker) if "/limits" in r.path]
    assert [r.status for r in limits_calls] == [401, 401]
    assert token_exchanges(faults, marker) == 1


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("http_503", ServerError),
        ("http_500", ServerError),
        ("unable_to_lock_row", RowLockError),
        ("request_limit_exceeded", RequestLimitExceededError),
    ],
    ids=["503", "500", "row-lock", "request-limit"],
)
def test_injected_faults_surface_as_retryable_errors(
    faults: SimulatorHandle,
    sf: Salesforce,
    prefix: str,
    kind: str,
    expected: type[SalesforceError],
) -> None:
    """Each fault Salesforce can answer with reaches the caller as its retryable class."""
    lead_id = new_lead(sf)
    client = client_for(faults, prefix)
    faults.inject_fault("/services/data/*/sobjects/Lead/*", kind, method="PATCH", count=1)

    with pytest.raises(expected) as raised:
        client.update_lead(lead_id, {"Title": "CTO"})
    assert isinstance(raised.value, RetryableError)
    client.update_lead(lead_id, {"Title": "CTO"})
    assert client.get_lead(lead_id).Title == "CTO"


def test_latency_beyond_the_timeout_is_a_transport_error(
    faults: SimulatorHandle, prefix: str
) -> None:
    """A response slower than timeout_seconds fails as a retryable TransportError."""
    client = client_for(faults, prefix, timeout_seconds=0.5)
    client.limits()
    faults.inject_fault("/services/data/*/limits*", "latency", latency_ms=2000, count=1)

    with pytest.raises(TransportError) as raised:
        client.limits()
    assert isinstance(raised.value, RetryableError)


def test_injection_is_rejected_before_any_request(
    sim: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """Hostile lead ids and email domains fail locally: the simulator sees no request at all."""
    client = client_for(sim, prefix)
    marker = mark(sf)
    hostile = [
        lambda: client.get_lead("00Q' OR Id != '"),
        lambda: client.earliest_completed_task("00Q000000000001' OR WhoId != '"),
        lambda: client.earliest_outgoing_email("x' OR Incoming = true OR Id = '"),
        lambda: client.account_owner_by_domain("acme.com' OR Name != '"),
        lambda: client.account_owner_by_domain("acme.com%' OR Website LIKE '%"),
        lambda: client.account_owner_by_domain("ac me.com"),
    ]
    for attempt in hostile:
        with pytest.raises(InvalidInputError):
            attempt()

    assert requests_after(sim, marker) == []


def test_writes_keep_the_owner_and_name_their_origin(
    sim: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """The org's assignment rule overwrites owners on writes without Sforce-Auto-Assign: FALSE,
    but not on the client's writes, whose changes carry client=leadfleet as their origin."""
    sim.set_assignment_rule(enabled=True, default_owner_id=sim.intake_queue_id, on_update=True)
    owner = new_user(sf)
    plain, ours, batched = new_lead(sf), new_lead(sf), new_lead(sf)
    client = client_for(sim, prefix)
    position = sim.change_log_position()

    sf.Lead.update(plain, {"OwnerId": owner})
    client.update_lead(ours, {"OwnerId": owner})
    client.update_lead(ours, {"Title": "Rear Admiral"})
    results = client.update_records([{"Id": batched, "OwnerId": owner}])

    assert sf.Lead.get(plain)["OwnerId"] == sim.intake_queue_id
    assert client.get_lead(ours).OwnerId == owner
    assert [r.success for r in results] == [True]
    assert client.get_lead(batched).OwnerId == owner
    origins = {
        entry.record_ids[0]: entry.origin
        for entry in sim.change_log(since=position)
        if entry.entity == "Lead"
    }
    assert "client=leadfleet" in origins[ours]
    assert "client=leadfleet" in origins[batched]
    assert "client=leadfleet" not in origins[plain]


def test_api_usage_is_recorded_from_every_response(sim: SimulatorHandle, prefix: str) -> None:
    """Sforce-Limit-Info reaches the api_usage attribute and the on_api_usage callback."""
    seen: list[ApiUsage] = []
    client = build_salesforce_client(
        settings_for(sim),
        redis.Redis.from_url(REDIS_URL),
        key_prefix=prefix,
        on_api_usage=seen.append,
    )
    client.limits()
    client.limits()

    assert client.api_usage is not None
    assert seen[-1] == client.api_usage
    assert seen[-1].used > seen[0].used
    assert client.api_usage.max == sim.state()["api_usage"]["max"]


def test_ca_bundle_setting_beats_the_environment(
    sim: SimulatorHandle, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured CA bundle verifies the org even when REQUESTS_CA_BUNDLE names another one,
    and the system store (no bundle) refuses a certificate it does not know."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    assert client_for(sim, prefix).limits().limits["DailyApiRequests"].Max > 0

    unverified = client_for(sim, prefix + "-system", ca_bundle=None)
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        unverified.limits()


def test_secrets_never_reach_reprs_errors_or_logs(
    faults: SimulatorHandle, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Access token, consumer key, private key and JWT assertion stay out of reprs, errors, logs."""
    caplog.set_level(logging.DEBUG)
    settings = settings_for(faults, timeout_seconds=0.5)
    http = build_http_session(settings)
    assertions: list[str] = []

    def keep_assertion(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        body = response.request.body
        if response.request.url and response.request.url.endswith(TOKEN_PATH) and body:
            text = body.decode() if isinstance(body, bytes) else str(body)
            assertions.append(text.split("assertion=")[1].split("&")[0])

    http.hooks["response"].append(keep_assertion)
    auth = JwtBearerAuth(settings, redis.Redis.from_url(REDIS_URL), key_prefix=prefix, http=http)
    client = SalesforceClient(settings, auth, http=http)
    token = auth.token()
    client.limits()

    faults.inject_fault("/services/data/*/limits*", "latency", latency_ms=2000, count=1)
    with pytest.raises(TransportError) as transport:
        client.limits()

    wrong_key = "3MVG9-not-the-consumer-key-" + uuid.uuid4().hex
    bad_settings = settings_for(faults, consumer_key=SecretStr(wrong_key))
    bad_http = build_http_session(bad_settings)
    bad_http.hooks["response"].append(keep_assertion)
    refused = JwtBearerAuth(
        bad_settings, redis.Redis.from_url(REDIS_URL), key_prefix=prefix + "-bad", http=bad_http
    )
    with pytest.raises(SalesforceAuthError) as auth_error:
        refused.token()
    assert auth_error.value.description

    shown = "\n".join(
        [
            repr(token),
            str(token),
            token.model_dump_json(),
            repr(auth),
            repr(client),
            repr(settings),
            *traceback.format_exception(transport.value),
            *traceback.format_exception(auth_error.value),
            repr(auth_error.value),
            auth_error.value.body,
            caplog.text,
        ]
    )
    private_key = faults.private_key_path.read_text()
    key_body = "".join(line for line in private_key.splitlines() if "-----" not in line)
    secrets = {
        "access token": token.access_token.get_secret_value(),
        "consumer key": faults.consumer_key,
        "wrong consumer key": wrong_key,
        "private key": key_body[40:120],
    }
    assert len(assertions) == 2
    secrets |= {f"assertion {i}": a for i, a in enumerate(assertions)}
    assert [name for name, secret in secrets.items() if secret in shown] == []
