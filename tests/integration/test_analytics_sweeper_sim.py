"""The SLA sweeper against the simulator over HTTPS: an overdue lead is found and handed to the
overflow queue with leadfleet's headers, so assignment rules stay out and the listener drops it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import redis
from pydantic import SecretStr
from simple_salesforce.api import Salesforce

from analytics.alerts import AlertBook, AlertNotifier
from analytics.sweeper import FindingsStore, sweep
from shared.policy import load_policy
from shared.salesforce import build_salesforce_client
from shared.settings import CONFIG_DIR, AlertSettings, AnalyticsSettings, SalesforceSettings
from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration

NO_AUTO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}


@pytest.fixture
def org(fresh_sim: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The re-seeded simulator, reset again afterwards: its clock jumps ahead in the test."""
    yield fresh_sim
    fresh_sim.reset()


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"test-sweep-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def test_overdue_lead_moves_to_overflow_with_leadfleet_headers(
    org: SimulatorHandle, sf: Salesforce, prefix: str
) -> None:
    """An Enterprise lead unanswered for 90 minutes is stored, alerted and re-routed once."""
    policy = load_policy(CONFIG_DIR / "routing_policy.json")
    rep = org.user_id
    created = sf.Lead.create(
        {"LastName": "Waiting", "Company": "Globex", "NumberOfEmployees": 5000, "Country": "US",
         "OwnerId": rep},
        headers=NO_AUTO_ASSIGN,
    )  # fmt: skip
    lead_id = str(created["id"])
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    settings = SalesforceSettings(
        login_url=org.login_url, consumer_key=SecretStr(org.consumer_key),
        username=org.username, private_key_path=org.private_key_path,
        ca_bundle=org.ca_bundle,
    )  # fmt: skip
    salesforce = build_salesforce_client(settings, client, key_prefix=prefix)
    salesforce.limits()  # logs in now: a JWT assertion made after the clock jump would be stale
    org.shift_clock(90 * 60)
    now = datetime.fromisoformat(str(org.state()["now"]))
    logged_before = len(org.requests_log())

    outcome = sweep(
        salesforce,
        policy,
        AnalyticsSettings(sla_sweep_reroute=True, sla_sweep_lookback_hours=3, sla_sweep_batch=2000),
        findings=FindingsStore(client, prefix),
        book=AlertBook(client, prefix, cooldown_seconds=600),
        notifier=AlertNotifier(AlertSettings()),
        clock=lambda: now,
    )

    assert outcome.rerouted >= 1
    lead = sf.Lead.get(lead_id)
    assert lead["OwnerId"][:15] == policy.queues.overflow[:15]
    assert lead["Routing_Reason__c"].startswith("SLA sweeper")
    stored = {row["lead_id"][:15]: row for row in FindingsStore(client, prefix).all()}
    assert stored[lead_id[:15]]["segment"] == "Enterprise"
    patches = [
        r for r in org.requests_log()[logged_before:]
        if r.method == "PATCH" and lead_id[:15] in r.path
    ]  # fmt: skip
    assert [(p.status, p.client) for p in patches] == [(204, "leadfleet")]

    again = sweep(
        salesforce,
        policy,
        AnalyticsSettings(sla_sweep_reroute=True, sla_sweep_lookback_hours=3, sla_sweep_batch=2000),
        findings=FindingsStore(client, prefix),
        book=AlertBook(client, prefix, cooldown_seconds=600),
        notifier=AlertNotifier(AlertSettings()),
        clock=lambda: now,
    )
    assert lead_id[:15] in {row["lead_id"][:15] for row in FindingsStore(client, prefix).all()}
    assert again.alerted == 0  # still overdue, already alerted within the cooldown
    assert sf.Lead.get(lead_id)["OwnerId"][:15] == policy.queues.overflow[:15]
