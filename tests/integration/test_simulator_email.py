"""The emailSimple action: sends, logs an outgoing EmailMessage, refuses opted-out leads and caps."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration


def _send(sim: SimulatorHandle, *inputs: dict[str, Any]) -> requests.Response:
    return sim.session().post(
        f"{sim.instance_url}/services/data/v62.0/actions/standard/emailSimple",
        json={"inputs": list(inputs)},
        timeout=10,
    )


def _email_input(lead_id: str, address: str = "lead@example.com") -> dict[str, Any]:
    return {
        "emailAddresses": address,
        "emailSubject": "Hello",
        "emailBody": "Thanks for reaching out.",
        "senderType": "CurrentUser",
        "relatedRecordId": lead_id,
    }


def test_email_is_sent_and_logged(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A sent email becomes an outgoing EmailMessage related to the lead, from the running user."""
    lead = sf.Lead.create({"LastName": "Mailable", "Company": "X", "Email": "lead@example.com"})
    response = _send(fresh_sim, _email_input(lead["id"]))
    assert response.status_code == 200
    assert response.json() == [
        {"actionName": "emailSimple", "errors": None, "isSuccess": True, "outputValues": None}
    ]
    logged = sf.query(
        "SELECT Subject, Incoming, FromAddress, ToAddress, Status, MessageDate FROM EmailMessage "
        f"WHERE RelatedToId = '{lead['id']}'"
    )["records"]
    assert len(logged) == 1
    assert logged[0]["Incoming"] is False and logged[0]["Status"] == "3"
    assert logged[0]["FromAddress"] == fresh_sim.username
    assert logged[0]["ToAddress"] == "lead@example.com"
    assert fresh_sim.state()["emails_sent"] == 1


def test_opted_out_lead_is_refused(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """No email goes to a lead that opted out; nothing is logged."""
    lead = sf.Lead.create({"LastName": "NoMail", "Company": "X", "HasOptedOutOfEmail": True})
    response = _send(fresh_sim, _email_input(lead["id"]))
    result = response.json()[0]
    assert result["isSuccess"] is False
    assert result["errors"][0]["statusCode"] == "EMAIL_OPTED_OUT"
    count = sf.query(f"SELECT COUNT() FROM EmailMessage WHERE RelatedToId = '{lead['id']}'")
    assert count["totalSize"] == 0


def test_single_email_limit(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """Past the org's SingleEmail allowance sends fail with SINGLE_EMAIL_LIMIT_EXCEEDED."""
    fresh_sim.set_limit("SingleEmail", 1)
    lead = sf.Lead.create({"LastName": "Capped", "Company": "X"})["id"]
    first, second = _send(fresh_sim, _email_input(lead), _email_input(lead)).json()
    assert first["isSuccess"] is True
    assert second["errors"][0]["statusCode"] == "SINGLE_EMAIL_LIMIT_EXCEEDED"
    assert sf.restful("limits")["SingleEmail"] == {"Max": 1, "Remaining": 0}


def test_email_action_is_described(sim: SimulatorHandle, sf: Salesforce) -> None:
    """GET on the action lists its inputs."""
    described = sf.restful("actions/standard/emailSimple")
    names = {i["name"] for i in described["inputs"]}
    assert {"emailAddresses", "emailSubject", "emailBody", "senderType"} <= names
