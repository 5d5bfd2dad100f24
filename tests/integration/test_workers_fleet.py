"""The worker fleet end to end: real Celery workers on Redis against the simulator over HTTPS.

One worker set for the module (two workers, four threads each). Leads are created in the
simulator through sObject Collections and their CREATE messages enqueued as the listener would.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce

from shared.business_hours import load_business_hours
from shared.messages import LeadCreatedMessage, ResponseActivityMessage
from shared.models import Lead
from shared.policy import load_policy
from shared.routing import PoolState, decide_route, pick_pool_member, rules_are_unsure
from shared.salesforce.client import build_salesforce_client
from shared.settings import CONFIG_DIR, SalesforceSettings
from shared.ttfr import ResponseCandidate, decide_first_touch
from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.workers_support import (
    Fleet,
    base_env,
    create_records,
    owner_writes,
    parse_sf_datetime,
    read_records,
    running_fleet,
)
from workers.route import email_domain

pytestmark = pytest.mark.integration

POLICY = load_policy(CONFIG_DIR / "routing_policy.json")
CALENDAR = load_business_hours(CONFIG_DIR / "business_hours.json")
LEAD_COUNT = int(os.environ.get("LEADFLEET_TEST_LEAD_COUNT", "1000"))
SNAPSHOT_FIELDS = (
    "Id",
    "FirstName",
    "LastName",
    "Company",
    "Title",
    "Email",
    "Country",
    "NumberOfEmployees",
    "Industry",
    "LeadSource",
    "Description",
    "Product_Interest__c",
    "OwnerId",
    "CreatedDate",
    "HasOptedOutOfEmail",
)
CLEAR_PLACES = (
    ("US", 50),
    ("United Kingdom", 500),
    ("DE", 5000),
    ("Japan", 40),
    ("Brazil", 900),
    ("UK", 12000),
    ("Canada", 700),
    ("Singapore", 3000),
    ("United States", 120),
    ("France", 60),
)
DESCRIPTIONS = (
    "Can you send pricing for 40 seats?",
    "We would like a demo next week",
    "Questions about your API and SSO",
    "Interested in a partnership as a reseller",
    None,
)


def lead_record(index: int, account_domains: list[str], run: str) -> dict[str, Any]:
    """A varied lead: clear rules, account domains, free mail and leads the rules are unsure of."""
    country, employees = CLEAR_PLACES[index % len(CLEAR_PLACES)]
    kind = index % 10
    record: dict[str, Any] = {
        "FirstName": f"F{index}",
        "LastName": f"{run}-{index}",
        "Company": f"Company {index}",
        "Email": f"lead{index}@co{index}.{run.lower()}.example.com",
        "Country": country,
        "NumberOfEmployees": employees,
        "Description": DESCRIPTIONS[index % len(DESCRIPTIONS)],
        "LeadSource": "Web",
    }
    if kind == 6:
        record["Email"] = f"lead{index}@{account_domains[index % len(account_domains)]}"
    elif kind == 7:
        record["Email"] = f"lead{index}@gmail.com"
    elif kind == 8:
        record["Country"] = None
    elif kind == 9:
        record["NumberOfEmployees"] = None
    return record


def snapshot_message(record: dict[str, Any], index: int, run: str) -> LeadCreatedMessage:
    """The CREATE message the listener would build for a created lead."""
    fields = {k: v for k, v in record.items() if k != "Id"}
    return LeadCreatedMessage(
        event_id=f"/data/LeadChangeEvent:{run}{index:06x}:0",
        topic="/data/LeadChangeEvent",
        replay_id=f"{index:06x}",
        record_id=record["Id"],
        entity="Lead",
        change_type="CREATE",
        commit_timestamp=parse_sf_datetime(record["CreatedDate"]),
        commit_user="005000000000000AAA",
        fields=fields,
    )


def create_and_enqueue(
    fleet: Fleet, sf: Salesforce, sim: SimulatorHandle, count: int, run: str
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Create count leads, read their snapshots back and enqueue their CREATE messages."""
    domains = [
        str(a["Website"]).removeprefix("https://www.")
        for a in sf.query("SELECT Website FROM Account LIMIT 20")["records"]
    ]
    ids = create_records(sf, "Lead", [lead_record(i, domains, run) for i in range(count)])
    records = read_records(sf, "Lead", ids, SNAPSHOT_FIELDS)
    for index, lead_id in enumerate(ids):
        fleet.producer.send(snapshot_message(records[lead_id], index, run))
    return ids, records


@pytest.fixture(scope="module")
def fleet(sim: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two workers on the workload queues, sending off, the offline LLM."""
    env = base_env(sim, "lf-fleet")
    with running_fleet(env, tmp_path_factory.mktemp("fleet-logs")) as running:
        running.start_worker("w1", concurrency=4)
        running.start_worker("w2", concurrency=4)
        yield running


@pytest.fixture(scope="module")
def sf_client(sim: SimulatorHandle) -> Salesforce:
    return salesforce_for(sim)


def test_a_thousand_leads_are_each_routed_once_to_the_policy_owner_with_a_template(
    fleet: Fleet, sim: SimulatorHandle, sf_client: Salesforce
) -> None:
    """1,000 leads: one owner write each, the policy's owner, fair pools, a template each."""
    since = sim.change_log_position()
    started = time.monotonic()
    ids, records = create_and_enqueue(fleet, sf_client, sim, LEAD_COUNT, "RUNA")
    fleet.wait_drained()
    elapsed = time.monotonic() - started
    print(f"\n{LEAD_COUNT} leads routed and templated in {elapsed:.1f} s")

    writes = owner_writes(sim, since)
    assert {lead_id: writes.get(lead_id, 0) for lead_id in ids} == dict.fromkeys(ids, 1)

    final = read_records(
        sf_client, "Lead", ids, ("Id", "OwnerId", "Suggested_Template__c", "Routing_Reason__c")
    )
    settings = SalesforceSettings(
        login_url=sim.login_url,
        consumer_key=sim.consumer_key,
        username=sim.username,
        private_key_path=sim.private_key_path,
        ca_bundle=sim.ca_bundle,
    )
    client = build_salesforce_client(settings, fleet.redis, key_prefix="lf-fleet-test")
    pool = POLICY.pools["SMB_NA"]
    pool_owners: list[str] = []
    for lead_id in ids:
        lead = Lead.model_validate(records[lead_id])
        owner = final[lead_id]["OwnerId"]
        assert final[lead_id]["Suggested_Template__c"], lead_id
        if rules_are_unsure(lead, POLICY):
            assert owner in POLICY.all_owner_ids(), (lead_id, owner)
            continue
        domain = email_domain(lead.Email)
        account = client.account_owner_by_domain(domain) if domain else None
        expected = decide_route(lead, POLICY, account_owner=account)
        if "round robin in pool" in expected.reason:
            pool_owners.append(owner)
            continue
        assert owner == expected.owner, (lead_id, expected.reason)

    fair = PoolState()
    for _ in pool_owners:
        picked = pick_pool_member(pool, fair)
        assert picked is not None
        fair = fair.with_pick(picked)
    assert Counter(pool_owners) == Counter(fair.assigned_total)
    assert pool_owners, "the run must exercise the round-robin pool"


def test_rep_responses_write_the_first_response_fields(
    fleet: Fleet, sim: SimulatorHandle, sf_client: Salesforce
) -> None:
    """Completed tasks and outgoing emails become TTFR fields; only the earliest counts."""
    ids, _ = create_and_enqueue(fleet, sf_client, sim, 20, "RUNT")
    fleet.wait_drained()
    rep = POLICY.owners["MM_EMEA"]
    now = datetime.now(UTC)
    task_ids = create_records(
        sf_client,
        "Task",
        [
            {
                "WhoId": lead_id,
                "Subject": "Call",
                "Type": "Call",
                "Status": "Completed",
                "OwnerId": rep,
            }
            for lead_id in ids[:15]
        ],
    )
    email_ids = create_records(
        sf_client,
        "EmailMessage",
        [
            {
                "RelatedToId": lead_id,
                "Subject": "Thanks for reaching out",
                "TextBody": "Hello",
                "Incoming": False,
                "Status": "3",
                "FromAddress": "rep@example.com",
                "ToAddress": "lead@example.com",
                # Half the emails went out before the tasks were logged, half after.
                "MessageDate": (now + timedelta(minutes=-1 if i % 2 else 5)).isoformat(),
            }
            for i, lead_id in enumerate(ids[5:20])
        ],
    )
    for task_id, lead_id in zip(task_ids, ids[:15], strict=True):
        # Every other message is an UPDATE that does not say which lead: the worker reads it.
        fleet.producer.send(activity(task_id, "Task", lead_id if ids.index(lead_id) % 2 else None))
    for email_id, lead_id in zip(email_ids, ids[5:20], strict=True):
        fleet.producer.send(activity(email_id, "EmailMessage", lead_id))
    fleet.wait_drained()

    fields = (
        "Id",
        "CreatedDate",
        "Country",
        "NumberOfEmployees",
        "First_Response_At__c",
        "First_Response_User__c",
        "First_Response_Source__c",
        "Time_to_First_Response__c",
        "Business_Minutes_to_First_Response__c",
    )
    leads = read_records(sf_client, "Lead", ids, fields)
    tasks = read_records(
        sf_client,
        "Task",
        task_ids,
        ("Id", "OwnerId", "Status", "Type", "CompletedDateTime", "WhoId"),
    )
    emails = read_records(
        sf_client,
        "EmailMessage",
        email_ids,
        ("Id", "RelatedToId", "Incoming", "MessageDate", "FromAddress", "CreatedById", "Status"),
    )
    for lead_id in ids:
        lead = leads[lead_id]
        candidates = [
            ResponseCandidate.from_task(t) for t in tasks.values() if t["WhoId"] == lead_id
        ]
        candidates += [
            ResponseCandidate.from_email(e) for e in emails.values() if e["RelatedToId"] == lead_id
        ]
        if not candidates:
            assert lead["First_Response_At__c"] is None
            continue
        parsed = Lead.model_validate(lead)
        assert parsed.CreatedDate is not None
        expected = decide_first_touch(
            lead_id=lead_id,
            created_at=parsed.CreatedDate,
            stored_first_response_at=None,
            candidates=candidates,
            hours=CALENDAR.for_region(region_of(parsed)),
            sla_hours=None,
            now=datetime.now(UTC),
        )
        assert parse_sf_datetime(lead["First_Response_At__c"]) == expected.first_response_at
        assert lead["First_Response_Source__c"] == expected.source
        assert lead["First_Response_User__c"] == expected.first_response_user
        assert lead["Time_to_First_Response__c"] == pytest.approx(expected.ttfr_minutes, abs=0.01)
        assert lead["Business_Minutes_to_First_Response__c"] == pytest.approx(
            expected.business_minutes, abs=0.01
        )


def region_of(lead: Lead) -> str | None:
    decision = decide_route(lead, POLICY)
    return decision.region


def activity(record_id: str, source: str, lead_id: str | None) -> ResponseActivityMessage:
    return ResponseActivityMessage.model_validate(
        {
            "event_id": f"/data/{source}ChangeEvent:{record_id}:0",
            "topic": f"/data/{source}ChangeEvent",
            "replay_id": "01",
            "record_id": record_id,
            "entity": source,
            "change_type": "CREATE" if lead_id else "UPDATE",
            "commit_timestamp": datetime.now(UTC).isoformat(),
            "commit_user": "005000000000000AAA",
            "source": source,
            "lead_id": lead_id,
        }
    )


def test_every_lead_is_routed_when_a_tenth_of_salesforce_calls_fail(
    fleet: Fleet, sim: SimulatorHandle, sf_client: Salesforce
) -> None:
    """With 503s and UNABLE_TO_LOCK_ROW on 10% of calls, retries still route every lead once."""
    since = sim.change_log_position()
    ids, _ = create_and_enqueue(fleet, sf_client, sim, 200, "RUNF")
    sim.inject_fault("/services/data/*", "http_503", probability=0.05)
    sim.inject_fault("/services/data/*", "unable_to_lock_row", probability=0.05)
    try:
        fleet.wait_drained()
    finally:
        sim.clear_faults()
    fired = sum(1 for r in sim.requests_log() if r.faults)
    assert fired > 10, "the faults must actually have hit the fleet"
    writes = owner_writes(sim, since)
    assert {lead_id: writes.get(lead_id, 0) for lead_id in ids} == dict.fromkeys(ids, 1)
    dead = fleet.redis.xlen("lf-fleet:deadletter")
    assert dead == 0


def test_worker_logs_one_canonical_json_line_per_task(fleet: Fleet) -> None:
    """Each task run leaves a JSON line with the fields an operator filters on, and no secrets."""
    lines = fleet.task_lines()
    assert lines
    for line in lines[:50]:
        assert {"event_id", "lead_id", "workload", "outcome", "duration_ms", "attempt"} <= set(line)
    text = "\n".join(w.log_path.read_text() for w in fleet.workers)
    assert "PRIVATE KEY" not in text and "access_token" not in text
