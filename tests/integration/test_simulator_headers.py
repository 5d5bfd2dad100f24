"""Wire behaviour around the records: assignment rules, preconditions, limits and error bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from simple_salesforce import Salesforce

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration


def _url(sim: SimulatorHandle, path: str, version: str = "62.0") -> str:
    return f"{sim.instance_url}/services/data/v{version}/{path}"


def _active_user(sf: Salesforce) -> str:
    rows = sf.query("SELECT Id FROM User WHERE IsActive = true ORDER BY Username LIMIT 1")
    return str(rows["records"][0]["Id"])


def test_assignment_rule_overwrites_owner_unless_told_not_to(
    fresh_sim: SimulatorHandle, sf: Salesforce
) -> None:
    """Without Sforce-Auto-Assign: FALSE the rule's queue wins; with it the written owner stands."""
    rep = _active_user(sf)
    ruled = sf.Lead.create({"LastName": "Ruled", "Company": "X", "OwnerId": rep})["id"]
    assert sf.Lead.get(ruled)["OwnerId"] == fresh_sim.intake_queue_id
    kept = sf.Lead.create({"LastName": "Kept", "Company": "X", "OwnerId": rep},
                          headers={"Sforce-Auto-Assign": "FALSE"})["id"]  # fmt: skip
    assert sf.Lead.get(kept)["OwnerId"] == rep
    sf.Lead.update(ruled, {"OwnerId": rep}, headers={"Sforce-Auto-Assign": "FALSE"})
    assert sf.Lead.get(ruled)["OwnerId"] == rep
    sf.Lead.update(ruled, {"OwnerId": rep})
    assert sf.Lead.get(ruled)["OwnerId"] == fresh_sim.intake_queue_id


def test_disabled_assignment_rule_leaves_owner(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """An org without an active rule keeps whatever owner is written."""
    fresh_sim.set_assignment_rule(enabled=False)
    rep = _active_user(sf)
    lead = sf.Lead.create({"LastName": "Free", "Company": "X", "OwnerId": rep})["id"]
    assert sf.Lead.get(lead)["OwnerId"] == rep


def test_if_unmodified_since(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A PATCH conditioned on a time before the last change answers 412 and changes nothing."""
    lead = sf.Lead.create({"LastName": "Stale", "Company": "X"})["id"]
    modified = datetime.fromisoformat(
        sf.Lead.get(lead)["LastModifiedDate"].replace("+0000", "+00:00")
    )
    session = fresh_sim.session()
    before = format_datetime(modified - timedelta(minutes=5), usegmt=True)
    response = session.patch(_url(fresh_sim, f"sobjects/Lead/{lead}"), json={"Title": "Late"},
                             headers={"If-Unmodified-Since": before}, timeout=10)  # fmt: skip
    assert response.status_code == 412
    assert response.json()[0]["errorCode"] == "PRECONDITION_FAILED"
    assert sf.Lead.get(lead)["Title"] is None
    after = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    response = session.patch(_url(fresh_sim, f"sobjects/Lead/{lead}"), json={"Title": "Fresh"},
                             headers={"If-Unmodified-Since": after}, timeout=10)  # fmt: skip
    assert response.status_code == 204
    assert sf.Lead.get(lead)["Title"] == "Fresh"


def test_limit_info_counts_and_daily_limit_refuses(fresh_sim: SimulatorHandle) -> None:
    """Every data response reports api-usage; past the maximum the org answers 403."""
    fresh_sim.set_limit("DailyApiRequests", 3)
    session = fresh_sim.session()
    seen = [session.get(_url(fresh_sim, "limits"), timeout=10) for _ in range(4)]
    assert [r.headers["Sforce-Limit-Info"] for r in seen] == [
        "api-usage=1/3", "api-usage=2/3", "api-usage=3/3", "api-usage=3/3",
    ]  # fmt: skip
    assert seen[2].json()["DailyApiRequests"] == {"Max": 3, "Remaining": 0}
    assert seen[3].status_code == 403
    assert seen[3].json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    fresh_sim.shift_clock(86400)
    next_day = fresh_sim.session().get(_url(fresh_sim, "limits"), timeout=10)
    assert next_day.headers["Sforce-Limit-Info"] == "api-usage=1/3"
    fresh_sim.reset()


def test_versions_and_unknown_version(sim: SimulatorHandle) -> None:
    """59.0 to 66.0 are served; another version is a 404 NOT_FOUND array."""
    session = sim.session()
    versions = session.get(f"{sim.instance_url}/services/data/", timeout=10).json()
    assert [v["version"] for v in versions] == [f"{n}.0" for n in range(59, 67)]
    assert session.get(_url(sim, "limits", "66.0"), timeout=10).status_code == 200
    old = session.get(_url(sim, "limits", "58.0"), timeout=10)
    assert old.status_code == 404 and old.json()[0]["errorCode"] == "NOT_FOUND"


ERRORS = [
    ("patch-collection", "PATCH", "sobjects/Lead", {"LastName": "x"}, 405, "METHOD_NOT_ALLOWED"),
    ("unknown-sobject", "GET", "sobjects/Nope__c/describe", None, 404, "NOT_FOUND"),
    ("missing-record", "GET", "sobjects/Lead/00Q000000000000EAA", None, 404, "NOT_FOUND"),
    ("malformed-id", "GET", "sobjects/Lead/abc", None, 400, "MALFORMED_ID"),
    ("wrong-prefix", "GET", "sobjects/Lead/001000000000000AAA", None, 400, "MALFORMED_ID"),
    ("unknown-field", "POST", "sobjects/Lead", {"LastName": "x", "Company": "y", "Bogus": 1},
     400, "INVALID_FIELD"),
    ("system-field", "POST", "sobjects/Lead", {"LastName": "x", "Company": "y",
     "CreatedDate": "2020-01-01T00:00:00Z"}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("too-long", "POST", "sobjects/Lead", {"LastName": "x", "Company": "y",
     "Routing_Reason__c": "r" * 256}, 400, "STRING_TOO_LONG"),
    ("required", "POST", "sobjects/Lead", {"LastName": "x"}, 400, "REQUIRED_FIELD_MISSING"),
    ("bad-owner-id", "POST", "sobjects/Lead", {"LastName": "x", "Company": "y", "OwnerId": "zz"},
     400, "MALFORMED_ID"),
    ("unknown-owner", "POST", "sobjects/Lead", {"LastName": "x", "Company": "y",
     "OwnerId": "005000000000000AAA"}, 400, "INVALID_CROSS_REFERENCE_KEY"),
    ("bad-boolean", "POST", "sobjects/Lead", {"LastName": "x", "Company": "y",
     "HasOptedOutOfEmail": "maybe"}, 400, "JSON_PARSER_ERROR"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_error_answers(
    sim: SimulatorHandle, method: str, path: str, body: object, status: int, code: str
) -> None:
    """Bad requests get Salesforce's status and an error array naming the errorCode."""
    response = sim.session().request(method, _url(sim, path), json=body, timeout=10)
    assert response.status_code == status
    assert response.json()[0]["errorCode"] == code


def test_method_not_allowed_message(sim: SimulatorHandle) -> None:
    """PATCH without an id names the allowed methods like Salesforce does."""
    response = sim.session().patch(_url(sim, "sobjects/Lead"), json={}, timeout=10)
    assert response.json()[0]["message"] == (
        "HTTP Method 'PATCH' not allowed. Allowed are HEAD,GET,POST"
    )


def test_inactive_owner_is_refused(sim: SimulatorHandle, sf: Salesforce) -> None:
    """OwnerId must be an active user or a queue."""
    inactive = sf.query("SELECT Id FROM User WHERE IsActive = false LIMIT 1")["records"][0]["Id"]
    response = sim.session().post(
        _url(sim, "sobjects/Lead"),
        json={"LastName": "x", "Company": "y", "OwnerId": inactive},
        headers={"Sforce-Auto-Assign": "FALSE"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INACTIVE_OWNER_OR_USER"


def test_requests_log_records_client(fresh_sim: SimulatorHandle) -> None:
    """The request log keeps method, path, status and the Call Options client."""
    session = fresh_sim.session()
    session.get(_url(fresh_sim, "limits"), headers={"Sforce-Call-Options": "client=probe"},
                timeout=10)  # fmt: skip
    last = fresh_sim.requests_log()[-1]
    assert (last.method, last.path, last.status, last.client) == (
        "GET", "/services/data/v62.0/limits", 200, "probe",
    )  # fmt: skip


def test_admin_api_is_reachable_without_auth(sim: SimulatorHandle) -> None:
    """The control API answers loopback callers and does not count against API limits."""
    before = sim.state()["api_usage"]["used"]
    response = requests.get(f"{sim.instance_url}/__sim/state", verify=str(sim.ca_bundle),
                            timeout=10)  # fmt: skip
    assert response.status_code == 200 and response.json()["org_id"] == sim.org_id
    assert sim.state()["api_usage"]["used"] == before
