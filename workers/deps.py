"""The composition root of a worker process: every port the workloads use, built once.

Nothing here runs at import. `get_deps()` builds the process's `Deps` on first use (after
Celery has forked, so no connection crosses a fork) and `reset_deps()` forgets them in a new
child process. Tests build `Deps` from fakes directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis

from shared.business_hours import BusinessCalendar, load_business_hours
from shared.dead_letter import DeadLetterStream
from shared.flywheel.buffer import build_stream_sink
from shared.flywheel.port import FlywheelSink, NullFlywheel
from shared.llm.port import LlmPort
from shared.policy import RoutingPolicy, load_policy
from shared.ratelimit import RateLimitedLlm, RateLimitedSalesforce, build_rate_limits
from shared.salesforce.client import build_salesforce_client
from shared.salesforce.port import SalesforcePort
from shared.settings import LeadfleetSettings, get_settings
from shared.templates import TemplateCatalog, load_templates
from workers.idempotency import Leases, RouteClaims, SendClaims
from workers.pool_state import PoolStateStore

__all__ = [
    "Deps",
    "WorkloadConfig",
    "build_deps",
    "build_flywheel",
    "get_deps",
    "reset_deps",
    "utc_now",
]


def utc_now() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class WorkloadConfig:
    """The settings values the workloads read, gathered from their sub-settings."""

    client_id: str = "salesforce-dev"
    send_email: bool = False
    routing_budget_seconds: float = 3.0
    llm_timeout_seconds: float = 10.0
    llm_always_ask: bool = False
    send_confirm_after_seconds: float = 60.0
    limits_cache_seconds: float = 60.0
    key_prefix: str = "leadfleet"


@dataclass(frozen=True)
class Deps:
    """Every port and piece of state a workload may touch."""

    salesforce: SalesforcePort
    llm: LlmPort
    flywheel: FlywheelSink
    redis: Redis
    policy: RoutingPolicy
    templates: TemplateCatalog
    calendar: BusinessCalendar
    route_claims: RouteClaims
    pools: PoolStateStore
    send_claims: SendClaims
    first_touch_leases: Leases
    dead_letters: DeadLetterStream
    llm_executor: ThreadPoolExecutor
    config: WorkloadConfig
    clock: Callable[[], datetime] = utc_now


def _request_flush() -> None:
    """Send one flywheel flush to the flywheel queue (the stream passed its size)."""
    # Imported here: the app module imports this one.
    from shared.messages import TASK_QUEUES, TaskName
    from workers.app import app

    task = TaskName.FLYWHEEL_FLUSH
    app.send_task(task.value, queue=TASK_QUEUES[task].value)


def build_flywheel(settings: LeadfleetSettings, redis: Redis) -> FlywheelSink:
    """The flywheel sink: the Redis stream appender, or nothing when the flywheel is off."""
    if settings.flywheel.sink == "off":
        return NullFlywheel()
    return build_stream_sink(
        settings.flywheel,
        redis,
        prefix=settings.redis.key_prefix,
        client_id=settings.client_id,
        request_flush=_request_flush,
    )


def build_deps(settings: LeadfleetSettings) -> Deps:
    """Wire the production ports from settings (the fleet's Redis, Salesforce, the LLM)."""
    # Imported here: the provider's SDK loads only in a worker that builds its deps.
    from shared.llm.factory import build_llm

    prefix = settings.redis.key_prefix
    timeout = settings.redis.socket_timeout_seconds
    redis = Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    workers = settings.workers
    limits = build_rate_limits(
        settings.ratelimit,
        settings.redis.url,
        redis,
        key_prefix=prefix,
        org_key=settings.salesforce.username,
        socket_timeout=timeout,
    )
    salesforce = RateLimitedSalesforce(
        build_salesforce_client(settings.salesforce, redis, key_prefix=prefix), limits
    )
    llm: LlmPort = build_llm(settings.llm)
    if llm.name == "anthropic":
        llm = RateLimitedLlm(llm, limits)
    return Deps(
        salesforce=salesforce,
        llm=llm,
        flywheel=build_flywheel(settings, redis),
        redis=redis,
        policy=load_policy(settings.config.routing_policy),
        templates=load_templates(settings.config.templates),
        calendar=load_business_hours(settings.config.business_hours),
        route_claims=RouteClaims(
            redis,
            prefix,
            lease_seconds=workers.route_claim_lease_seconds,
            done_ttl_seconds=workers.route_done_ttl_seconds,
        ),
        pools=PoolStateStore(redis, prefix, pick_ttl_seconds=workers.route_done_ttl_seconds),
        send_claims=SendClaims(redis, prefix, ttl_seconds=workers.send_claim_ttl_seconds),
        first_touch_leases=Leases(
            redis, prefix, "first_touch", seconds=workers.first_touch_lock_seconds
        ),
        dead_letters=DeadLetterStream(redis, prefix, max_length=workers.dead_letter_max_length),
        llm_executor=ThreadPoolExecutor(
            max_workers=workers.llm_threads, thread_name_prefix="llm-budget"
        ),
        config=WorkloadConfig(
            client_id=settings.client_id,
            send_email=workers.send_email,
            routing_budget_seconds=settings.llm.routing_budget_seconds,
            llm_timeout_seconds=settings.llm.timeout_seconds,
            llm_always_ask=settings.llm.always_ask,
            send_confirm_after_seconds=workers.send_confirm_after_seconds,
            limits_cache_seconds=workers.limits_cache_seconds,
            key_prefix=prefix,
        ),
    )


_lock = threading.Lock()
_deps: Deps | None = None


def get_deps() -> Deps:
    """This process's Deps, built from settings on first use."""
    global _deps
    with _lock:
        if _deps is None:
            _deps = build_deps(get_settings())
        return _deps


def reset_deps() -> None:
    """Forget the process's Deps (a forked child builds its own)."""
    global _deps
    with _lock:
        _deps = None
