"""With the LLM unreachable, every lead is still routed, as degraded, within the routing budget."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shared.messages import Queue
from shared.models import Lead
from shared.policy import load_policy
from shared.routing import rules_are_unsure
from shared.settings import CONFIG_DIR
from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.test_workers_fleet import SNAPSHOT_FIELDS, snapshot_message
from tests.integration.workers_support import (
    Fleet,
    base_env,
    create_records,
    owner_writes,
    read_records,
    running_fleet,
)

pytestmark = pytest.mark.integration

POLICY = load_policy(CONFIG_DIR / "routing_policy.json")
BUDGET_SECONDS = 1
LLM_TIMEOUT_SECONDS = 8
LEADS = 24


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A port that takes connections and never answers: an LLM that hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield int(server.getsockname()[1])


@pytest.fixture(scope="module")
def fleet(
    sim: SimulatorHandle, blackhole: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """One routing worker whose Anthropic endpoint never answers."""
    env = base_env(
        sim,
        "lf-llmdown",
        LEADFLEET_LLM__API_KEY="sk-test-not-a-key",
        LEADFLEET_LLM__BASE_URL=f"https://127.0.0.1:{blackhole}",
        LEADFLEET_LLM__ROUTING_BUDGET_SECONDS=str(BUDGET_SECONDS),
        LEADFLEET_LLM__TIMEOUT_SECONDS=str(LLM_TIMEOUT_SECONDS),
        LEADFLEET_LLM__ALWAYS_ASK="true",
    )
    with running_fleet(env, tmp_path_factory.mktemp("llm-down-logs")) as running:
        running.start_worker("d1", concurrency=4, queues=(Queue.LEAD_ROUTE,))
        yield running


def test_every_lead_is_routed_as_degraded_without_waiting_for_the_llm(
    fleet: Fleet, sim: SimulatorHandle
) -> None:
    """Rules decide every lead, the record says the LLM was unavailable, no run waits it out."""
    sf = salesforce_for(sim)
    ids = create_records(
        sf,
        "Lead",
        [
            {
                "LastName": f"DOWN-{i}",
                "Company": f"Down {i}",
                "Email": f"d{i}@gmail.com",
                "Country": None if i % 2 else "Japan",
                "NumberOfEmployees": 300,
            }
            for i in range(LEADS)
        ],
    )
    snapshots = read_records(sf, "Lead", ids, SNAPSHOT_FIELDS)
    since = sim.change_log_position()
    for index, lead_id in enumerate(ids):
        fleet.producer.send(snapshot_message(snapshots[lead_id], index, "DOWN"))
    fleet.wait_drained(queues=(Queue.LEAD_ROUTE,))

    writes = owner_writes(sim, since)
    assert {lead_id: writes.get(lead_id, 0) for lead_id in ids} == dict.fromkeys(ids, 1)
    routed = read_records(sf, "Lead", ids, ("Id", "OwnerId", "Routing_Reason__c"))
    for lead_id in ids:
        assert "LLM unavailable; rules decided" in routed[lead_id]["Routing_Reason__c"]
        if not rules_are_unsure(Lead.model_validate(snapshots[lead_id]), POLICY):
            assert routed[lead_id]["OwnerId"] == POLICY.owners["MM_APAC"]
    durations = [
        line["duration_ms"]
        for line in fleet.task_lines()
        if line["workload"] == "lead.route" and line["outcome"] == "routed"
    ]
    assert len(durations) == LEADS
    # The LLM would have kept each run for its whole timeout; the budget cut every wait short.
    assert max(durations) < LLM_TIMEOUT_SECONDS * 1000
