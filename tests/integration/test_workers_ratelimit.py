"""Two workers sharing a fleet-wide limit of N Salesforce calls per window never exceed N in any
window, counted where it matters: at the simulator, by arrival time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.test_workers_fleet import SNAPSHOT_FIELDS, snapshot_message
from tests.integration.workers_support import (
    Fleet,
    base_env,
    create_records,
    owner_writes,
    parse_sf_datetime,
    read_records,
    running_fleet,
)

pytestmark = pytest.mark.integration

CALLS = 10
WINDOW_SECONDS = 4
LEADS = 24


@pytest.fixture(scope="module")
def fleet(sim: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two workers sharing a limit of CALLS Salesforce calls per WINDOW_SECONDS."""
    env = base_env(
        sim,
        "lf-rate",
        LEADFLEET_RATELIMIT__SALESFORCE_CALLS=str(CALLS),
        LEADFLEET_RATELIMIT__SALESFORCE_WINDOW_SECONDS=str(WINDOW_SECONDS),
        LEADFLEET_WORKERS__MAX_RETRIES="3",
    )
    with running_fleet(env, tmp_path_factory.mktemp("rate-logs")) as running:
        running.start_worker("r1", concurrency=4)
        running.start_worker("r2", concurrency=4)
        yield running


def test_two_workers_never_exceed_the_shared_salesforce_limit(
    fleet: Fleet, sim: SimulatorHandle
) -> None:
    """Every lead is routed, and no window of WINDOW_SECONDS holds more than CALLS data calls."""
    sf = salesforce_for(sim)
    ids = create_records(
        sf,
        "Lead",
        [
            {
                "LastName": f"RATE-{i}",
                "Company": f"Rate {i}",
                "Email": f"r{i}@gmail.com",
                "Country": "Germany",
                "NumberOfEmployees": 500,
            }
            for i in range(LEADS)
        ],
    )
    snapshots = read_records(sf, "Lead", ids, SNAPSHOT_FIELDS)
    since = sim.change_log_position()
    sim.simulator.org.requests.clear()
    for index, lead_id in enumerate(ids):
        fleet.producer.send(snapshot_message(snapshots[lead_id], index, "RATE"))
    fleet.wait_drained(timeout=240)

    arrivals = sorted(
        parse_sf_datetime(r.timestamp).timestamp()
        for r in sim.requests_log()
        if r.path.startswith("/services/data/") and r.client == "leadfleet"
    )
    busiest = max(
        sum(1 for t in arrivals[i:] if t < start + WINDOW_SECONDS)
        for i, start in enumerate(arrivals)
    )
    assert len(arrivals) >= 2 * LEADS, "each lead needs a routing and a template write"
    assert busiest <= CALLS
    writes = owner_writes(sim, since)
    assert {lead_id: writes.get(lead_id, 0) for lead_id in ids} == dict.fromkeys(ids, 1)
    assert any(line["outcome"] == "retry" for line in fleet.task_lines()), "the limit must bite"
