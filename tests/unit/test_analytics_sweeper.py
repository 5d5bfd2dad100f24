"""The SLA sweeper: which leads are overdue, where they go, and what is stored and alerted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import pytest

from analytics.alerts import AlertBook, AlertNotifier
from analytics.sweeper import FindingsStore, decide_sweep, sweep, sweep_window
from shared.policy import RoutingPolicy, load_policy
from shared.salesforce import FakeSalesforce, StaleRecordError
from shared.salesforce.port import LeadRecord
from shared.settings import CONFIG_DIR, AlertSettings, AnalyticsSettings

NOW = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
REP = "005Lf0000000001AAA"


@pytest.fixture(scope="module")
def policy() -> RoutingPolicy:
    return load_policy(CONFIG_DIR / "routing_policy.json")


def lead(hours_old: float, employees: int | None, *, owner: str = REP, **fields: Any) -> LeadRecord:
    return LeadRecord(
        Id="00QLf0000000001AAA",
        CreatedDate=NOW - timedelta(hours=hours_old),
        LastModifiedDate=NOW - timedelta(hours=hours_old),
        OwnerId=owner,
        NumberOfEmployees=employees,
        Country="United Kingdom",
        **fields,
    )


@pytest.mark.parametrize(
    ("hours_old", "employees", "owner", "overdue", "rerouted"),
    [
        (1.5, 5000, REP, True, True),
        (0.9, 5000, REP, False, False),
        (7.9, 500, REP, False, False),
        (8.1, 500, REP, True, True),
        (23.0, 50, REP, False, False),
        (25.0, 50, REP, True, True),
        (23.0, None, REP, False, False),
        (25.0, None, REP, True, True),
        (30.0, 50, "overflow", True, False),
    ],
    ids=[
        "enterprise-past-1h", "enterprise-within-1h", "mm-within-8h", "mm-past-8h",
        "smb-within-24h", "smb-past-24h", "no-count-within-most-lenient",
        "no-count-past-most-lenient", "already-in-overflow-not-moved-again",
    ],
)  # fmt: skip
def test_decide_sweep_by_segment_sla(
    policy: RoutingPolicy,
    hours_old: float,
    employees: int | None,
    owner: str,
    overdue: bool,
    rerouted: bool,
) -> None:
    """A lead is overdue past its segment's SLA and moves to overflow unless it is there already."""
    owner_id = policy.queues.overflow if owner == "overflow" else owner
    decision = decide_sweep(
        [lead(hours_old, employees, owner=owner_id)], policy, now=NOW, reroute=True
    )
    assert bool(decision.findings) is overdue
    assert bool(decision.reroutes) is rerouted
    if rerouted:
        move = decision.reroutes[0]
        assert (move.to_owner, move.from_owner) == (policy.queues.overflow, REP)
        assert move.if_unmodified_since == NOW - timedelta(hours=hours_old)
        assert len(move.reason) <= 255


def test_finding_carries_segment_region_and_wait(policy: RoutingPolicy) -> None:
    """A finding names the lead's segment, region, SLA and minutes waited."""
    finding = decide_sweep([lead(2, 5000)], policy, now=NOW, reroute=False).findings[0]
    assert (finding.segment, finding.region, finding.sla_hours) == ("Enterprise", "EMEA", 1.0)
    assert finding.minutes_waiting == 120.0


def test_answered_or_rerouting_off_changes_nothing(policy: RoutingPolicy) -> None:
    """A lead with a first response is never a finding; with re-routing off nothing moves."""
    answered = lead(5, 5000, First_Response_At__c=NOW - timedelta(hours=4))
    assert decide_sweep([answered], policy, now=NOW, reroute=True).findings == []
    assert decide_sweep([lead(5, 5000)], policy, now=NOW, reroute=False).reroutes == []


def test_window_skips_leads_younger_than_the_shortest_sla(policy: RoutingPolicy) -> None:
    """The query reads leads between the lookback and the shortest SLA ago."""
    after, before = sweep_window(policy, AnalyticsSettings(sla_sweep_lookback_hours=48), NOW)
    assert (after, before) == (NOW - timedelta(hours=48), NOW - timedelta(hours=1))


class FakeSession:
    """Records webhook posts; answers 200."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    def post(self, url: str, *, json: dict[str, Any], timeout: float) -> Any:
        self.posts.append({"url": url, "json": json, "timeout": timeout})
        return type("Response", (), {"status_code": 200})()


def run_sweep(org: FakeSalesforce, policy: RoutingPolicy, redis: Any, session: FakeSession,
              *, reroute: bool = True) -> Any:  # fmt: skip
    alerts = AlertSettings(webhook_url="https://hooks.example/T0/B0/secret", cooldown_seconds=600)
    return sweep(
        org,
        policy,
        AnalyticsSettings(sla_sweep_reroute=reroute),
        findings=FindingsStore(redis, "t"),
        book=AlertBook(redis, "t", cooldown_seconds=alerts.cooldown_seconds),
        notifier=AlertNotifier(alerts, http=session),  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def seed(org: FakeSalesforce, hours_old: float, employees: int, owner: str = REP) -> str:
    created = NOW - timedelta(hours=hours_old)
    return org.create(
        "Lead",
        {"LastName": "Late", "Company": "Acme", "NumberOfEmployees": employees, "Country": "DE",
         "OwnerId": owner, "CreatedDate": created, "LastModifiedDate": created},
    )  # fmt: skip


def test_sweep_reroutes_stores_and_alerts_once(policy: RoutingPolicy) -> None:
    """Overdue leads move to overflow (guarded write), are stored, and alert once per cooldown."""
    org = FakeSalesforce(start=NOW)
    late = seed(org, 3, 5000)
    on_time = seed(org, 3, 50)
    redis = fakeredis.FakeRedis()
    session = FakeSession()

    outcome = run_sweep(org, policy, redis, session)

    assert (outcome.overdue, outcome.rerouted, outcome.alerted) == (1, 1, 1)
    [update] = org.updates
    assert (update.record_id, update.fields["OwnerId"]) == (late, policy.queues.overflow)
    assert update.if_unmodified_since == NOW - timedelta(hours=3)
    stored = FindingsStore(redis, "t").all()
    assert [row["lead_id"] for row in stored] == [late]
    assert on_time not in json.dumps(session.posts)
    assert late in session.posts[0]["json"]["text"]
    assert [a.kind for a in AlertBook(redis, "t", cooldown_seconds=600).open_alerts()] == [
        "sla_unanswered"
    ]

    run_sweep(org, policy, redis, session)
    assert len(session.posts) == 1  # within the cooldown the same lead is not alerted again


def test_sweep_leaves_a_lead_a_person_changed(policy: RoutingPolicy) -> None:
    """A lead edited after it was read (412) keeps the person's change; it is not re-routed."""
    org = FakeSalesforce(start=NOW)
    seed(org, 3, 5000)
    org.fail_next("update_lead", StaleRecordError("modified since", status=412))
    outcome = run_sweep(org, policy, fakeredis.FakeRedis(), FakeSession())
    assert (outcome.overdue, outcome.rerouted, outcome.skipped) == (1, 0, 1)
    assert org.updates == []


def test_answered_lead_leaves_the_findings(policy: RoutingPolicy) -> None:
    """Once a lead gets its response, the next sweep drops it from the stored findings."""
    org = FakeSalesforce(start=NOW)
    late = seed(org, 3, 5000)
    redis = fakeredis.FakeRedis()
    run_sweep(org, policy, redis, FakeSession(), reroute=False)
    assert [row["lead_id"] for row in FindingsStore(redis, "t").all()] == [late]
    org.touch("Lead", late, {"First_Response_At__c": NOW})
    run_sweep(org, policy, redis, FakeSession(), reroute=False)
    assert FindingsStore(redis, "t").all() == []
    assert AlertBook(redis, "t", cooldown_seconds=600).open_alerts() == []
