"""The flywheel end to end: real Celery workers append every decision, S3 (moto) receives them.

One run for the module: 1,000 leads (LEADFLEET_TEST_LEAD_COUNT) created in the simulator and
routed and templated by two workers; completed Tasks on some of them (first touches); some
reassigned by a person through the simulator's REST API (feedback), plus one owner change on a
lead leadfleet never routed (ignored). The workers run the flywheel queue too, so flushes asked
for by the stream's size run during the run; a final `leadfleet flywheel flush` drains the rest.
Then S3 is compared with the simulator's ground truth, and the export and validate commands
run on it. PII redaction is on, so the stored records must not hold the leads' addresses.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from simple_salesforce import Salesforce

from shared.flywheel.export import EXPORT_KEYS, MIN_RECORDS
from shared.flywheel.reader import ReadReport, iter_record_dicts, read_record_dicts
from shared.flywheel.s3 import S3Store, build_s3_client
from shared.messages import OwnerChangedMessage, Queue
from shared.queue_producer import build_producer
from shared.settings import RedisSettings
from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.test_flywheel_s3 import claimed_redis_url, running_moto, s3_settings
from tests.integration.test_workers_fleet import (
    POLICY,
    SNAPSHOT_FIELDS,
    activity,
    lead_record,
    snapshot_message,
)
from tests.integration.workers_support import (
    WORKLOAD_QUEUES,
    Fleet,
    base_env,
    create_records,
    read_records,
)

pytestmark = pytest.mark.integration

LEADFLEET = Path(sys.executable).with_name("leadfleet")
REPO = Path(__file__).resolve().parents[2]
LEAD_COUNT = int(os.environ.get("LEADFLEET_TEST_LEAD_COUNT", "1000"))
RESPONDED = LEAD_COUNT // 4
REASSIGNED = max(LEAD_COUNT // 20, 1)
ALL_QUEUES = (*WORKLOAD_QUEUES, Queue.FLYWHEEL)
RUN = "FWA"


@dataclass
class FlywheelRun:
    """What the run did, what the simulator holds, and what S3 holds."""

    ids: list[str]
    final: dict[str, dict[str, Any]]
    reassigned: dict[str, str]
    stranger: str
    records: dict[str, list[dict[str, Any]]]
    raw_text: str
    env: dict[str, str]
    report: ReadReport
    task_lines: list[dict[str, Any]]


def create_and_enqueue(fleet: Fleet, sf: Salesforce, count: int) -> list[str]:
    """The fleet test's varied leads; every 25th says how to reach a person in its Description."""
    domains = [
        str(a["Website"]).removeprefix("https://www.")
        for a in sf.query("SELECT Website FROM Account LIMIT 20")["records"]
    ]
    leads = [lead_record(i, domains, RUN) for i in range(count)]
    for index in range(0, count, 25):
        leads[index]["Description"] = (
            f"Demo please. Call +44 20 7946 {index:04d} or mail lead{index}@co{index}.example.com"
            f" - Name: Grace Hopper {index}"
        )
    ids = create_records(sf, "Lead", leads)
    records = read_records(sf, "Lead", ids, SNAPSHOT_FIELDS)
    for index, lead_id in enumerate(ids):
        fleet.producer.send(snapshot_message(records[lead_id], index, RUN))
    return ids


def person_reassigns(sf: Salesforce, lead_id: str, owner: str) -> None:
    """A person moves the lead in Salesforce (no leadfleet call options; no assignment rules)."""
    sf.Lead.update(lead_id, {"OwnerId": owner}, headers={"Sforce-Auto-Assign": "FALSE"})


def owner_changed(lead_id: str, owner: str, index: int) -> OwnerChangedMessage:
    """The message the listener sends for that change."""
    return OwnerChangedMessage(
        event_id=f"/data/LeadChangeEvent:fe{index:06x}:0",
        topic="/data/LeadChangeEvent",
        replay_id=f"fe{index:06x}",
        record_id=lead_id,
        entity="Lead",
        change_type="UPDATE",
        commit_timestamp=datetime.now(UTC),
        commit_user="005000000000077AAA",
        change_origin="com/salesforce/api/rest/62.0",
        changed_fields=["OwnerId"],
        fields={"OwnerId": owner},
        new_owner_id=owner,
    )


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEADFLEET), "flywheel", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def flywheel_run(
    sim: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlywheelRun]:
    with running_moto() as endpoint, claimed_redis_url() as redis_url:
        bucket = f"fleet-{uuid.uuid4().hex[:12]}"
        build_s3_client(s3_settings(endpoint, bucket=bucket)).create_bucket(Bucket=bucket)
        prefix = f"lf-fw-{uuid.uuid4().hex[:6]}"
        env = base_env(
            sim,
            prefix,
            LEADFLEET_REDIS__URL=redis_url,
            LEADFLEET_CLIENT_ID="flywheel-test",
            LEADFLEET_FLYWHEEL__SINK="s3",
            LEADFLEET_FLYWHEEL__S3_BUCKET=bucket,
            LEADFLEET_FLYWHEEL__S3_ENDPOINT_URL=endpoint,
            LEADFLEET_FLYWHEEL__S3_ACCESS_KEY_ID="testing",
            LEADFLEET_FLYWHEEL__S3_SECRET_ACCESS_KEY="testing",
            LEADFLEET_FLYWHEEL__FLUSH_BATCH_SIZE="200",
            LEADFLEET_FLYWHEEL__FLUSH_WHEN_STREAM_EXCEEDS=str(max(LEAD_COUNT // 5, 20)),
            LEADFLEET_FLYWHEEL__FLUSH_REQUEST_INTERVAL_SECONDS="1",
            LEADFLEET_FLYWHEEL__REDACT_PII="true",
        )
        client = redis.Redis.from_url(redis_url)
        producer = build_producer(RedisSettings(url=redis_url))
        fleet = Fleet(env, tmp_path_factory.mktemp("flywheel-fleet"), producer, client)
        sf = salesforce_for(sim)
        try:
            fleet.start_worker("fw1", concurrency=4, queues=ALL_QUEUES)
            fleet.start_worker("fw2", concurrency=4, queues=ALL_QUEUES)
            ids = create_and_enqueue(fleet, sf, LEAD_COUNT)
            fleet.wait_drained(timeout=600, queues=ALL_QUEUES)

            responded = ids[:RESPONDED]
            rep = POLICY.owners["MM_EMEA"]
            task_ids = create_records(
                sf,
                "Task",
                [
                    {
                        "WhoId": lead_id,
                        "Subject": "Call",
                        "Type": "Call",
                        "Status": "Completed",
                        "OwnerId": rep,
                    }
                    for lead_id in responded
                ],
            )
            for task_id, lead_id in zip(task_ids, responded, strict=True):
                fleet.producer.send(activity(task_id, "Task", lead_id))

            routed_owner = {
                lead_id: row["OwnerId"]
                for lead_id, row in read_records(sf, "Lead", ids, ("Id", "OwnerId")).items()
            }
            users = sorted(o for o in POLICY.all_owner_ids() if o.startswith("005"))
            reassigned: dict[str, str] = {}
            for index, lead_id in enumerate(ids[-REASSIGNED:]):
                owner = next(u for u in users if u != routed_owner[lead_id])
                person_reassigns(sf, lead_id, owner)
                fleet.producer.send(owner_changed(lead_id, owner, index))
                reassigned[lead_id] = owner
            # A lead leadfleet never routed: its owner change is no label.
            [stranger] = create_records(
                sf, "Lead", [{"LastName": "Stranger", "Company": "Elsewhere"}]
            )
            person_reassigns(sf, stranger, users[0])
            fleet.producer.send(owner_changed(stranger, users[0], REASSIGNED + 1))
            fleet.wait_drained(timeout=600, queues=ALL_QUEUES)

            flushed = run_cli(env, "flush")
            assert flushed.returncode == 0, flushed.stderr
            assert client.xlen(f"{prefix}:flywheel") == 0

            fields = (
                "Id",
                "OwnerId",
                "Owner_Assigned_At__c",
                "First_Response_At__c",
                "Suggested_Template__c",
            )
            final = read_records(sf, "Lead", [*ids, stranger], fields)
            store = S3Store(
                build_s3_client(s3_settings(endpoint, bucket=bucket)), bucket, "flywheel"
            )
            report = ReadReport()
            deduped = read_record_dicts(store, report=report)
            by_workload: dict[str, list[dict[str, Any]]] = {}
            for record in deduped:
                by_workload.setdefault(record["workload_id"], []).append(record)
            raw_text = "\n".join(json.dumps(r) for r in iter_record_dicts(store))
            yield FlywheelRun(
                ids,
                final,
                reassigned,
                stranger,
                by_workload,
                raw_text,
                env,
                report,
                fleet.task_lines(),
            )
        finally:
            for worker in fleet.workers:
                worker.stop()
            producer.close()
            client.close()


def decided(run: FlywheelRun, workload: str, outcome: str | None = None) -> Counter[str]:
    """How many records (after dedup) each lead has for a workload (and outcome)."""
    return Counter(
        r["metadata"]["lead_id"]
        for r in run.records.get(workload, [])
        if outcome is None or r["metadata"]["outcome"] == outcome
    )


def test_every_routing_is_in_s3_exactly_once(flywheel_run: FlywheelRun) -> None:
    """Leads routed (Owner_Assigned_At__c set) = routing records, one per lead."""
    routed = {i for i in flywheel_run.ids if flywheel_run.final[i]["Owner_Assigned_At__c"]}
    assert len(routed) == LEAD_COUNT
    assert decided(flywheel_run, "lead.route", "routed") == Counter(routed)
    assert decided(flywheel_run, "lead.route") == Counter(routed)


def test_every_first_touch_is_in_s3_exactly_once(flywheel_run: FlywheelRun) -> None:
    """Leads with First_Response_At__c = first-touch records written, one per lead."""
    responded = {i for i in flywheel_run.ids if flywheel_run.final[i]["First_Response_At__c"]}
    assert len(responded) == RESPONDED
    assert decided(flywheel_run, "lead.first_touch_detect", "written") == Counter(responded)


def test_every_template_suggestion_is_in_s3_exactly_once(flywheel_run: FlywheelRun) -> None:
    """Leads with Suggested_Template__c = template records, one per lead."""
    suggested = {i for i in flywheel_run.ids if flywheel_run.final[i]["Suggested_Template__c"]}
    assert len(suggested) == LEAD_COUNT
    assert decided(flywheel_run, "outreach.template_suggest") == Counter(suggested)


def test_every_reassignment_is_one_feedback_label_naming_the_routing(
    flywheel_run: FlywheelRun,
) -> None:
    """Feedback = reassignments made: old owner is leadfleet's, new is the person's, linked by id."""
    labels = {r["metadata"]["lead_id"]: r for r in flywheel_run.records["lead.route.feedback"]}
    assert set(labels) == set(flywheel_run.reassigned)
    assert flywheel_run.stranger not in labels
    routing = {r["metadata"]["lead_id"]: r for r in flywheel_run.records["lead.route"]}
    for lead_id, owner in flywheel_run.reassigned.items():
        assert flywheel_run.final[lead_id]["OwnerId"] == owner
        decision = labels[lead_id]["metadata"]["decision"]
        assert decision["new_owner"] == owner
        assert decision["old_owner"] == routing[lead_id]["metadata"]["owner"] != owner
        assert decision["routed_record_id"] == routing[lead_id]["metadata"]["record_id"]
        assert decision["minutes_since_routing"] >= 0


def test_stored_records_hold_no_lead_email_or_last_name(flywheel_run: FlywheelRun) -> None:
    """With redaction on, no lead's address or last name left the workers."""
    text = flywheel_run.raw_text
    assert "@co" not in text
    assert "20 7946" not in text and "Grace" not in text
    assert re.search(rf"\b{RUN}-\d+\b", text) is None
    # The descriptions reached the model's prompts, redacted.
    assert "[EMAIL]" in text and "[PHONE]" in text and "[NAME]" in text


def test_export_is_strict_five_key_jsonl_and_validate_counts_it(
    flywheel_run: FlywheelRun, tmp_path: Path
) -> None:
    """Each workload's export loads as JSON Lines of exactly five keys; validate agrees on counts."""
    expected = {
        "lead.route": LEAD_COUNT,
        "lead.first_touch_detect": RESPONDED,
        "outreach.template_suggest": LEAD_COUNT,
        "lead.route.feedback": REASSIGNED,
    }
    for workload, count in expected.items():
        out = tmp_path / f"{workload}.jsonl"
        result = run_cli(
            flywheel_run.env, "export", "--format", "nvidia", "--workload", workload, str(out)
        )
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(lines) == count
        assert all(set(line) == EXPORT_KEYS for line in lines)
        assert all(isinstance(line["timestamp"], int) for line in lines)
        assert {line["client_id"] for line in lines} == {"flywheel-test"}
        if workload in ("lead.route", "lead.route.feedback", "outreach.template_suggest"):
            assert all(
                line["response"]["choices"][0]["message"]["tool_calls"][0]["type"] == "function"
                for line in lines
            )

    validated = run_cli(flywheel_run.env, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    checks = {c["workload_id"]: c for c in map(json.loads, validated.stdout.splitlines())}
    assert {w: c["records"] for w, c in checks.items()} == expected
    assert all(c["invalid"] == 0 for c in checks.values())
    for workload, count in expected.items():
        check = checks[workload]
        assert check["usable"] == count - check["duplicate_prompts"]
        assert check["meets_minimum"] is (check["usable"] >= MIN_RECORDS)


def test_a_long_stream_got_flushed_by_the_workers_during_the_run(flywheel_run: FlywheelRun) -> None:
    """Past its size the stream asks for flywheel.flush, and a worker ran it before the end."""
    flushed = [
        int(line["outcome"].split(":")[1])
        for line in flywheel_run.task_lines
        if line.get("workload") == "flywheel.flush" and line["outcome"].startswith("flushed:")
    ]
    assert sum(flushed) > 0
