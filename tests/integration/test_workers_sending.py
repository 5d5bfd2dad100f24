"""Sending on: one email per eligible lead, none for opted-out or bounced leads, even when a
worker is SIGKILLed mid-send and its messages are redelivered to another worker."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.test_workers_fleet import SNAPSHOT_FIELDS, snapshot_message
from tests.integration.workers_support import (
    LEADFLEET_CLIENT,
    Fleet,
    base_env,
    create_records,
    read_records,
    running_fleet,
)

pytestmark = pytest.mark.integration

LEADS = 120


@pytest.fixture(scope="module")
def fleet(sim: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Workers with sending on (none started yet: the test starts and kills them)."""
    env = base_env(sim, "lf-send", LEADFLEET_WORKERS__SEND_EMAIL="true")
    with running_fleet(env, tmp_path_factory.mktemp("send-logs")) as running:
        yield running


def test_one_email_per_eligible_lead_even_when_a_worker_is_killed_mid_send(
    fleet: Fleet, sim: SimulatorHandle
) -> None:
    """Kill a worker while sends are in flight; the survivor finishes; nobody gets two emails."""
    sf = salesforce_for(sim)
    records = []
    for i in range(LEADS):
        record = {
            "LastName": f"SEND-{i}",
            "Company": f"Send Co {i}",
            "Email": f"send{i}@sendco{i}.example.com",
            "Country": "United Kingdom",
            "NumberOfEmployees": 500,
            "Description": "Can we get a demo?",
        }
        if i % 10 == 0:
            record["HasOptedOutOfEmail"] = True
        elif i % 10 == 1:
            record["EmailBouncedDate"] = datetime.now(UTC).isoformat()
        records.append(record)
    ids = create_records(sf, "Lead", records)
    snapshots = read_records(sf, "Lead", ids, SNAPSHOT_FIELDS)
    eligible = {lead_id for i, lead_id in enumerate(ids) if i % 10 not in (0, 1)}
    since = sim.change_log_position()
    # Slow sends keep several of them in flight when the worker dies.
    sim.inject_fault("/services/data/*/actions/standard/emailSimple", "latency", latency_ms=400)
    first = fleet.start_worker("first", concurrency=6)
    for index, lead_id in enumerate(ids):
        fleet.producer.send(snapshot_message(snapshots[lead_id], index, "SEND"))
    deadline = time.monotonic() + 120
    while sim.state()["emails_sent"] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)

    first.kill()
    abandoned = int(fleet.redis.hlen("unacked"))
    fleet.start_worker("second", concurrency=6)
    try:
        fleet.wait_drained(timeout=240)
    finally:
        sim.clear_faults()

    assert abandoned > 0, "the killed worker must have left messages to redeliver"
    sent = Counter(
        entry.values.get("RelatedToId")
        for entry in sim.change_log(since)
        if entry.entity == "EmailMessage"
        and entry.change_type == "CREATE"
        and entry.origin.endswith(LEADFLEET_CLIENT)
    )
    assert {lead_id: sent.get(lead_id, 0) for lead_id in ids} == {
        lead_id: 1 if lead_id in eligible else 0 for lead_id in ids
    }
    # The sender records the first touch itself (the listener drops leadfleet's own email).
    touched = read_records(sf, "Lead", sorted(eligible), ("Id", "First_Response_At__c"))
    assert all(row["First_Response_At__c"] for row in touched.values())
