"""Fixtures for integration tests: one simulator per session, a reset per test where asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce

from simulator.testing import SimulatorHandle, running_simulator

API_VERSION = "62.0"


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """One simulator over HTTPS for the whole test session (state in a temporary folder)."""
    with running_simulator(tmp_path_factory.mktemp("simulator")) as handle:
        yield handle


@pytest.fixture
def fresh_sim(sim: SimulatorHandle) -> SimulatorHandle:
    """The session's simulator re-seeded: seed data only, no faults, usage or clock shift."""
    sim.reset()
    return sim


def salesforce_for(sim: SimulatorHandle, token: str | None = None) -> Salesforce:
    """simple-salesforce on a JWT-exchanged session, verifying the simulator's certificate."""
    session = requests.Session()
    session.verify = str(sim.ca_bundle)
    # Otherwise REQUESTS_CA_BUNDLE in the environment would replace `verify` on each request.
    session.trust_env = False
    return Salesforce(
        instance_url=sim.instance_url,
        session_id=token or sim.access_token(),
        session=session,
        version=API_VERSION,
    )


@pytest.fixture
def sf(sim: SimulatorHandle) -> Salesforce:
    """A simple_salesforce.Salesforce with a fresh access token."""
    return salesforce_for(sim)
