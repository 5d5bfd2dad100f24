"""Injected faults: each kind answers as Salesforce would, for the first N or a fraction of calls."""

from __future__ import annotations

import pytest
import requests

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration

LEADS = "/services/data/*/sobjects/Lead*"
KINDS = [
    ("http_503", 503, "SERVER_UNAVAILABLE"),
    ("http_500", 500, "UNKNOWN_EXCEPTION"),
    ("unable_to_lock_row", 400, "UNABLE_TO_LOCK_ROW"),
    ("request_limit_exceeded", 403, "REQUEST_LIMIT_EXCEEDED"),
    ("invalid_session_id", 401, "INVALID_SESSION_ID"),
]


def _create(sim: SimulatorHandle, session: requests.Session) -> requests.Response:
    return session.post(
        f"{sim.instance_url}/services/data/v62.0/sobjects/Lead",
        json={"LastName": "Faulty", "Company": "X"},
        timeout=10,
    )


@pytest.mark.parametrize(("kind", "status", "code"), KINDS, ids=[k[0] for k in KINDS])
def test_fault_kind_answers_then_clears(
    fresh_sim: SimulatorHandle, kind: str, status: int, code: str
) -> None:
    """A count=1 fault answers its error once, then the route works again."""
    session = fresh_sim.session()
    fresh_sim.inject_fault(LEADS, kind, method="POST", count=1)
    faulted = _create(fresh_sim, session)
    assert faulted.status_code == status
    assert faulted.json()[0]["errorCode"] == code
    assert _create(fresh_sim, session).status_code == 201


def test_fault_matches_route_and_method(fresh_sim: SimulatorHandle) -> None:
    """Other routes and methods are untouched."""
    session = fresh_sim.session()
    fresh_sim.inject_fault(LEADS, "http_503", method="POST")
    url = f"{fresh_sim.instance_url}/services/data/v62.0"
    assert session.get(f"{url}/sobjects/Lead/describe", timeout=10).status_code == 200
    assert session.get(f"{url}/limits", timeout=10).status_code == 200
    assert _create(fresh_sim, session).status_code == 503


def test_lock_row_message(fresh_sim: SimulatorHandle) -> None:
    """UNABLE_TO_LOCK_ROW carries Salesforce's message and an empty fields list."""
    fresh_sim.inject_fault(LEADS, "unable_to_lock_row")
    body = _create(fresh_sim, fresh_sim.session()).json()
    assert body == [
        {
            "message": "unable to obtain exclusive access to this record",
            "errorCode": "UNABLE_TO_LOCK_ROW",
            "fields": [],
        }
    ]


def test_probability_faults_some_requests(fresh_sim: SimulatorHandle) -> None:
    """A 50% fault fails some but not all requests (seeded, so the same run each time)."""
    session = fresh_sim.session()
    fresh_sim.inject_fault(LEADS, "http_503", probability=0.5)
    statuses = [_create(fresh_sim, session).status_code for _ in range(30)]
    assert 0 < statuses.count(503) < 30
    assert set(statuses) == {201, 503}


def test_latency_is_applied_before_answering(fresh_sim: SimulatorHandle) -> None:
    """A latency fault delays the answer at least as long as asked and still answers."""
    fresh_sim.inject_fault(LEADS, "latency", latency_ms=(60, 80), count=1)
    assert _create(fresh_sim, fresh_sim.session()).status_code == 201
    logged = [r for r in fresh_sim.requests_log() if r.faults]
    assert logged[-1].faults == ("latency",)
    assert logged[-1].duration_ms >= 60


def test_faults_through_the_admin_api(fresh_sim: SimulatorHandle) -> None:
    """The HTTP control API installs and clears the same rules."""
    admin = f"{fresh_sim.instance_url}/__sim/faults"
    created = requests.post(admin, json={"route": LEADS, "kind": "http_500", "count": 1},
                            verify=str(fresh_sim.ca_bundle), timeout=10)  # fmt: skip
    assert created.status_code == 201
    assert _create(fresh_sim, fresh_sim.session()).status_code == 500
    bad = requests.post(admin, json={"route": LEADS, "kind": "gremlins"},
                        verify=str(fresh_sim.ca_bundle), timeout=10)  # fmt: skip
    assert bad.status_code == 400
    requests.delete(admin, verify=str(fresh_sim.ca_bundle), timeout=10)
    assert fresh_sim.state()["faults"] == []
