"""Feedback labels: a person's reassignment of a lead leadfleet routed, and nothing else."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.flywheel.buffer import RedisStreamSink
from shared.flywheel.feedback import RoutedLead, decide_feedback
from shared.flywheel.record import route_record_id
from shared.messages import OwnerChangedMessage
from shared.salesforce import FakeSalesforce
from tests.unit.workers_fakes import PREFIX, START, lead_created, make_deps
from workers.deps import Deps
from workers.feedback import record_feedback
from workers.route import route_lead

LEAD = "00Q000000000001AAA"
RULES_OWNER = "005000000000001AAA"
PERSON_OWNER = "005000000000009AAA"
ROUTED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MEMORY = RoutedLead(lead_id=LEAD, owner=RULES_OWNER, routed_at=ROUTED_AT, record_id="rid-1")


@pytest.mark.parametrize(
    ("routed_owner", "memory", "new_owner", "expected"),
    [
        (None, None, PERSON_OWNER, ("not_routed", None, None, None)),
        (RULES_OWNER, MEMORY, RULES_OWNER, ("unchanged", RULES_OWNER, 90.0, "rid-1")),
        (RULES_OWNER, MEMORY, PERSON_OWNER, ("reassigned", RULES_OWNER, 90.0, "rid-1")),
        (
            RULES_OWNER,
            None,
            PERSON_OWNER,
            ("reassigned", RULES_OWNER, None, route_record_id(LEAD)),
        ),
        (
            "005000000000002AAA",
            MEMORY,
            PERSON_OWNER,
            ("reassigned", "005000000000002AAA", None, "rid-1"),
        ),
    ],
    ids=[
        "not-routed-by-leadfleet",
        "set-back-to-leadfleet-owner",
        "reassigned",
        "reassigned-memory-expired",
        "memory-of-another-owner-gives-no-time",
    ],
)
def test_feedback_decision_table(
    routed_owner: str | None,
    memory: RoutedLead | None,
    new_owner: str,
    expected: tuple[str, str | None, float | None, str | None],
) -> None:
    """Old owner from the route claim, minutes from the routed time, the routing record's id."""
    decision = decide_feedback(
        lead_id=LEAD,
        routed_owner=routed_owner,
        routed=memory,
        new_owner=new_owner,
        changed_by="005000000000077AAA",
        changed_at=ROUTED_AT + timedelta(minutes=90),
    )
    assert (
        decision.outcome,
        decision.old_owner,
        decision.minutes_since_routing,
        decision.routed_record_id,
    ) == expected
    assert decision.is_label is (expected[0] == "reassigned")


def owner_changed(lead_id: str, new_owner: str, at: datetime) -> OwnerChangedMessage:
    """The message the listener sends for a person's owner change."""
    return OwnerChangedMessage(
        event_id=f"/data/LeadChangeEvent:ff{lead_id[-6:]}:0",
        topic="/data/LeadChangeEvent",
        replay_id="ff",
        record_id=lead_id,
        entity="Lead",
        change_type="UPDATE",
        commit_timestamp=at,
        commit_user="005000000000077AAA",
        changed_fields=["OwnerId"],
        fields={"OwnerId": new_owner},
        new_owner_id=new_owner,
    )


def stream_records(deps: Deps) -> list[dict[str, Any]]:
    return [json.loads(fields[b"record"]) for _, fields in deps.redis.xrange(f"{PREFIX}:flywheel")]


@pytest.fixture
def deps() -> Deps:
    base = make_deps(FakeSalesforce(start=START))
    sink = RedisStreamSink(base.redis, PREFIX, client_id="acme", max_length=10_000)
    return replace(base, flywheel=sink)


def test_a_person_reassigning_a_routed_lead_records_a_label_naming_the_routing_record(
    deps: Deps,
) -> None:
    """The feedback record says who leadfleet chose, who the person chose, when, and which record."""
    sf = deps.salesforce
    assert isinstance(sf, FakeSalesforce)
    lead = sf.create(
        "Lead", {"LastName": "B", "Company": "Beta", "Country": "US", "NumberOfEmployees": 50}
    )
    routed = route_lead(deps, lead_created(sf, lead))
    assert routed.owner is not None

    outcome = record_feedback(deps, owner_changed(lead, PERSON_OWNER, START + timedelta(hours=2)))

    assert outcome == "reassigned"
    route_record, feedback = stream_records(deps)
    assert feedback["workload_id"] == "lead.route.feedback"
    assert feedback["metadata"]["source"] == "person"
    decision = feedback["metadata"]["decision"]
    assert decision["old_owner"] == routed.owner
    assert decision["new_owner"] == PERSON_OWNER
    assert decision["minutes_since_routing"] == pytest.approx(120.0, abs=0.1)
    assert decision["routed_record_id"] == route_record["metadata"]["record_id"]


def test_owner_changes_on_leads_leadfleet_did_not_route_are_ignored(deps: Deps) -> None:
    """No route claim, no label: leadfleet has no decision there to correct."""
    sf = deps.salesforce
    assert isinstance(sf, FakeSalesforce)
    lead = sf.create(
        "Lead", {"LastName": "B", "Company": "Beta", "Country": "US", "NumberOfEmployees": 50}
    )

    outcome = record_feedback(deps, owner_changed(lead, PERSON_OWNER, START))

    assert outcome == "not_routed"
    assert stream_records(deps) == []


def test_a_redelivered_owner_change_gives_one_label_after_dedup(deps: Deps) -> None:
    """The same change event twice carries one record id."""
    sf = deps.salesforce
    assert isinstance(sf, FakeSalesforce)
    lead = sf.create(
        "Lead", {"LastName": "B", "Company": "Beta", "Country": "US", "NumberOfEmployees": 50}
    )
    route_lead(deps, lead_created(sf, lead))
    message = owner_changed(lead, PERSON_OWNER, START + timedelta(minutes=5))

    record_feedback(deps, message)
    record_feedback(deps, message, attempt=2)

    labels = [r for r in stream_records(deps) if r["workload_id"] == "lead.route.feedback"]
    assert len(labels) == 2
    assert labels[0]["metadata"]["record_id"] == labels[1]["metadata"]["record_id"]
