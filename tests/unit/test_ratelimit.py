"""Fleet-wide limits: a shared moving window per org, the daily ceiling, and Anthropic usage."""

from __future__ import annotations

import fakeredis
import pytest
import redis
from limits.storage import RedisStorage

from shared.models import Lead
from shared.ratelimit import (
    FleetRateLimits,
    RateLimitedError,
    RateLimitedLlm,
    RateLimitedSalesforce,
)
from shared.salesforce import FakeSalesforce
from shared.salesforce.port import ApiUsage
from shared.settings import RateLimitSettings
from tests.unit.workers_fakes import POLICY, START, FakeLlm


class Clock:
    """A settable clock for the daily-ceiling rule."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def fleet(
    server: fakeredis.FakeServer, clock: Clock | None = None, **settings: object
) -> FleetRateLimits:
    """One worker's view of the fleet's limits (workers share the server)."""
    pool = redis.ConnectionPool(connection_class=fakeredis.FakeRedisConnection, server=server)
    storage = RedisStorage("redis://fake", connection_pool=pool, key_prefix="t:ratelimit")
    org_key = str(settings.pop("org_key", "org1"))
    return FleetRateLimits(
        RateLimitSettings.model_validate(settings),
        storage,
        redis.Redis(connection_pool=pool),
        key_prefix="t",
        org_key=org_key,
        clock=clock or Clock(),
    )


def test_two_workers_share_one_salesforce_window() -> None:
    """N calls per window across the fleet: the (N+1)th call waits, whichever worker makes it."""
    server = fakeredis.FakeServer()
    one, two = fleet(server, salesforce_calls=3), fleet(server, salesforce_calls=3)

    assert [one.acquire_salesforce(), two.acquire_salesforce(), one.acquire_salesforce()] == [
        None,
        None,
        None,
    ]
    wait = two.acquire_salesforce()
    assert wait is not None and 0 < wait <= 61


def test_orgs_have_separate_buckets() -> None:
    """A second org's calls are not held up by the first org's."""
    server = fakeredis.FakeServer()
    first = fleet(server, salesforce_calls=1)
    other = fleet(server, salesforce_calls=1, org_key="org2")
    assert first.acquire_salesforce() is None
    assert other.acquire_salesforce() is None
    assert first.acquire_salesforce() is not None


def test_past_the_daily_share_calls_wait_then_one_rechecks() -> None:
    """Beyond the ceiling calls wait; after the recheck interval one call goes to re-read usage."""
    clock = Clock()
    limits = fleet(
        fakeredis.FakeServer(), clock, salesforce_daily_share=0.5, api_usage_recheck_seconds=300
    )
    limits.record_api_usage(ApiUsage(used=600, max=1000))

    wait = limits.acquire_salesforce()
    clock.now += 301
    probe = limits.acquire_salesforce()
    after_probe = limits.acquire_salesforce()

    assert wait == pytest.approx(300)
    assert probe is None
    assert after_probe is not None


def test_below_the_daily_share_calls_go_ahead() -> None:
    """Usage under the ceiling holds nothing back."""
    limits = fleet(fakeredis.FakeServer(), salesforce_daily_share=0.5)
    limits.record_api_usage(ApiUsage(used=400, max=1000))
    assert limits.acquire_salesforce() is None


def test_the_salesforce_decorator_refuses_before_calling() -> None:
    """Over the limit, the port raises RateLimitedError and Salesforce never sees the call."""
    sf = FakeSalesforce(start=START)
    lead = sf.create("Lead", {"LastName": "A", "Company": "B"})
    port = RateLimitedSalesforce(sf, fleet(fakeredis.FakeServer(), salesforce_calls=1))

    port.get_lead(lead)
    with pytest.raises(RateLimitedError) as caught:
        port.get_lead(lead)

    assert caught.value.retry_after > 0
    assert [c.op for c in sf.calls] == ["get_lead"]


def test_the_account_lookup_counts_as_two_calls() -> None:
    """The account query plus its active-owner query take two slots of the window."""
    sf = FakeSalesforce(start=START)
    port = RateLimitedSalesforce(sf, fleet(fakeredis.FakeServer(), salesforce_calls=2))
    port.account_owner_by_domain("acme.com")
    with pytest.raises(RateLimitedError):
        port.limits()


def test_llm_tokens_spent_hold_back_the_next_request() -> None:
    """Once a window's output tokens are used up, the next LLM request waits."""
    llm = FakeLlm()
    port = RateLimitedLlm(llm, fleet(fakeredis.FakeServer(), anthropic_output_tokens=5))

    port.route(Lead(Id="00Q000000000001AAA"), POLICY, timeout=1)
    with pytest.raises(RateLimitedError):
        port.route(Lead(Id="00Q000000000002AAA"), POLICY, timeout=1)
    assert len(llm.prompts) == 1


def test_llm_requests_per_window_are_fleet_wide() -> None:
    """The request bucket is shared like the Salesforce one."""
    server = fakeredis.FakeServer()
    one, two = fleet(server, anthropic_requests=1), fleet(server, anthropic_requests=1)
    assert one.acquire_llm() is None
    assert two.acquire_llm() is not None


def test_disabled_limits_never_wait() -> None:
    """With limits off every call goes ahead."""
    limits = fleet(fakeredis.FakeServer(), enabled=False, salesforce_calls=1)
    assert [limits.acquire_salesforce() for _ in range(5)] == [None] * 5
