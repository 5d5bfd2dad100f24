"""Test doubles for the worker workloads: an LLM that records prompts, and Deps built from fakes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import fakeredis
import redis

from shared.business_hours import load_business_hours
from shared.dead_letter import DeadLetterStream
from shared.flywheel.port import FakeFlywheel
from shared.intent import Intent
from shared.llm.port import LlmExchange, RoutingAnswer, TemplateAnswer
from shared.messages import LeadCreatedMessage, ResponseActivityMessage
from shared.models import Lead
from shared.policy import RoutingPolicy, load_policy
from shared.routing import LlmRoutingVerdict
from shared.salesforce import FakeSalesforce
from shared.settings import CONFIG_DIR
from shared.templates import TemplateCatalog, load_templates
from workers.deps import Deps, WorkloadConfig
from workers.idempotency import Leases, RouteClaims, SendClaims
from workers.pool_state import PoolStateStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PREFIX = "lf-test"
POLICY = load_policy(CONFIG_DIR / "routing_policy.json")
TEMPLATES = load_templates(CONFIG_DIR / "templates.json")
CALENDAR = load_business_hours(CONFIG_DIR / "business_hours.json")


def _exchange(operation: str) -> LlmExchange:
    return LlmExchange(
        provider="fake",
        model="fake-1",
        request={"operation": operation},
        response={"choices": []},
        input_tokens=10,
        output_tokens=5,
    )


class FakeLlm:
    """An LlmPort that answers what it was told, records every prompt, and can fail or dawdle."""

    name = "fake"

    def __init__(
        self,
        *,
        verdict: LlmRoutingVerdict | None = None,
        intent: Intent = "demo",
        suggestions: dict[str, str] | None = None,
        fail: Exception | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        self.verdict = verdict or LlmRoutingVerdict(
            segment="SMB", region="NA", confidence=0.8, reason="small US company"
        )
        self.intent = intent
        self.suggestions = suggestions or {}
        self.fail = fail
        self.delay_seconds = delay_seconds
        self.prompts: list[tuple[str, str | None]] = []
        self.finished = threading.Event()

    def _answer(self, operation: str, lead: Lead) -> None:
        self.prompts.append((operation, lead.Id))
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        self.finished.set()
        if self.fail is not None:
            raise self.fail

    def route(self, lead: Lead, policy: RoutingPolicy, *, timeout: float) -> RoutingAnswer:
        """The told verdict (after the told delay), or the told failure."""
        self._answer("route", lead)
        return RoutingAnswer(verdict=self.verdict, exchange=_exchange("route"))

    def choose_template(
        self, lead: Lead, catalog: TemplateCatalog, *, timeout: float
    ) -> TemplateAnswer:
        """The told intent with the catalogue's first template for it, or the told failure."""
        self._answer("choose_template", lead)
        template = next(t for t in catalog.templates if t.intent == self.intent)
        return TemplateAnswer(
            intent=self.intent,
            template_id=template.id,
            confidence=0.85,
            variable_suggestions=self.suggestions,
            exchange=_exchange("choose_template"),
        )


def fake_redis() -> redis.Redis:
    """A fresh in-memory Redis (with Lua, for the rate limiter's scripts)."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def make_deps(
    sf: FakeSalesforce,
    *,
    llm: Any = None,
    redis_client: redis.Redis | None = None,
    flywheel: FakeFlywheel | None = None,
    templates: TemplateCatalog = TEMPLATES,
    **config: Any,
) -> Deps:
    """Deps over fakes: FakeSalesforce, FakeLlm, fakeredis, the repository's config files."""
    r = redis_client if redis_client is not None else fake_redis()
    return Deps(
        salesforce=sf,
        llm=llm if llm is not None else FakeLlm(),
        flywheel=flywheel if flywheel is not None else FakeFlywheel(),
        redis=r,
        policy=POLICY,
        templates=templates,
        calendar=CALENDAR,
        route_claims=RouteClaims(r, PREFIX, lease_seconds=60, done_ttl_seconds=3600),
        pools=PoolStateStore(r, PREFIX, pick_ttl_seconds=3600),
        send_claims=SendClaims(r, PREFIX, ttl_seconds=3600),
        first_touch_leases=Leases(r, PREFIX, "first_touch", seconds=30),
        dead_letters=DeadLetterStream(r, PREFIX),
        llm_executor=ThreadPoolExecutor(max_workers=4),
        config=replace(WorkloadConfig(key_prefix=PREFIX), **config),
        clock=sf.now,
    )


def lead_created(sf: FakeSalesforce, lead_id: str, index: int = 0) -> LeadCreatedMessage:
    """The CREATE message the listener would send for a lead seeded in the fake."""
    record = sf.record("Lead", lead_id)
    fields = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in record.items()
        if k not in ("Id", "LastModifiedDate")
    }
    return LeadCreatedMessage(
        event_id=f"/data/LeadChangeEvent:00{index:04x}:0",
        topic="/data/LeadChangeEvent",
        replay_id=f"00{index:04x}",
        record_id=lead_id,
        entity="Lead",
        change_type="CREATE",
        commit_timestamp=record["CreatedDate"],
        commit_user="005000000000001AAA",
        fields=fields,
    )


def response_activity(
    record_id: str, *, source: str, lead_id: str | None, change_type: str = "CREATE"
) -> ResponseActivityMessage:
    """The message the listener would send for a Task or EmailMessage change."""
    return ResponseActivityMessage.model_validate(
        {
            "event_id": f"/data/TaskChangeEvent:{record_id}:0",
            "topic": "/data/TaskChangeEvent",
            "replay_id": "01",
            "record_id": record_id,
            "entity": source,
            "change_type": change_type,
            "commit_timestamp": START.isoformat(),
            "commit_user": "005000000000001AAA",
            "source": source,
            "lead_id": lead_id,
        }
    )
