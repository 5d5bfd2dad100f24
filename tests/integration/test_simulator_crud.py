"""simple-salesforce, with certificate verification on, against the simulator's REST API."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration


def test_lead_crud_round_trip(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A lead can be created, read (whole or by fields), updated and deleted."""
    created = sf.Lead.create({"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines"})
    assert created["success"] is True and created["id"].startswith("00Q")
    lead = sf.Lead.get(created["id"])
    assert lead["Name"] == "Ada Lovelace"
    assert lead["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v62.0/sobjects/Lead/{created['id']}",
    }
    assert lead["Status"] == "Open - Not Contacted" and lead["IsDeleted"] is False
    assert sf.Lead.update(created["id"], {"NumberOfEmployees": 250, "Title": None}) == 204
    partial = sf.restful(f"sobjects/Lead/{created['id']}", params={"fields": "NumberOfEmployees"})
    assert partial["NumberOfEmployees"] == 250 and "Company" not in partial
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(created["id"])
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{created['id']}'",
                           include_deleted=True)  # fmt: skip
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT Id FROM Lead WHERE Id = '{created['id']}'")["totalSize"] == 0


def test_task_email_and_account_crud(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """Tasks derive IsClosed from Status; EmailMessages and Accounts store what was written."""
    lead_id = sf.Lead.create({"LastName": "Turing", "Company": "Bletchley"})["id"]
    task_id = sf.Task.create({"WhoId": lead_id, "Subject": "Call", "Type": "Call"})["id"]
    assert sf.Task.get(task_id)["IsClosed"] is False
    sf.Task.update(task_id, {"Status": "Completed"})
    task = sf.Task.get(task_id)
    assert task["IsClosed"] is True and task["CompletedDateTime"] is not None
    email_id = sf.EmailMessage.create(
        {"RelatedToId": lead_id, "Subject": "Hi", "Incoming": False, "Status": "3",
         "MessageDate": "2026-01-05T10:00:00Z", "FromAddress": "rep@example.com"}
    )["id"]  # fmt: skip
    email = sf.EmailMessage.get(email_id)
    assert email["MessageDate"] == "2026-01-05T10:00:00.000+0000" and email["Incoming"] is False
    account_id = sf.Account.create({"Name": "Bletchley Park", "Website": "bletchley.org"})["id"]
    sf.Account.update(account_id, {"Industry": "Education"})
    assert sf.Account.get(account_id)["Industry"] == "Education"
    assert sf.Account.delete(account_id) == 204


def test_describe_lists_product_fields(sim: SimulatorHandle, sf: Salesforce) -> None:
    """Describe shows the custom fields the product writes, with their types and lengths."""
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert fields["First_Response_At__c"]["type"] == "datetime"
    assert fields["First_Response_At__c"]["custom"] is True
    assert fields["Routing_Reason__c"]["length"] == 255
    assert fields["CreatedDate"]["createable"] is False
    assert fields["FirstName"]["compoundFieldName"] == "Name"
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Lead", "Task", "EmailMessage", "Account", "Contact", "User", "Group"} <= names


def test_paged_queries_cover_every_record(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """query_all pages through batches of 200; query + query_more follow nextRecordsUrl."""
    for batch in range(2):
        records = [
            {"attributes": {"type": "Lead"}, "LastName": f"Paged {batch}-{i}", "Company": "Pages"}
            for i in range(200)
        ]
        results = sf.restful("composite/sobjects", method="POST",
                             json={"allOrNone": True, "records": records})  # fmt: skip
        assert all(r["success"] for r in results)
    sf.headers["Sforce-Query-Options"] = "batchSize=200"
    everything = sf.query_all("SELECT Id FROM Lead WHERE Company = 'Pages'")
    assert everything["totalSize"] == 400 and len({r["Id"] for r in everything["records"]}) == 400
    first = sf.query("SELECT Id, LastName FROM Lead ORDER BY LastName")
    assert first["done"] is False and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    seen = [r["Id"] for r in first["records"]]
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        seen += [r["Id"] for r in page["records"]]
    assert len(seen) == len(set(seen)) == first["totalSize"] == 500
    assert "nextRecordsUrl" not in page


def test_bad_queries_answer_soql_errors(sim: SimulatorHandle, sf: Salesforce) -> None:
    """Unknown fields and malformed SOQL come back as 400 error arrays."""
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.query("SELECT Nope__c FROM Lead")
    assert unknown.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT FROM WHERE")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_composite_with_references(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A composite request creates a lead and a task that refers to it through @{ref.id}."""
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "newLead",
             "body": {"LastName": "Hopper", "Company": "Navy"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Task", "referenceId": "task",
             "body": {"WhoId": "@{newLead.id}", "Subject": "Intro", "Status": "Completed"}},
            {"method": "GET", "url": "/services/data/v62.0/sobjects/Lead/@{newLead.id}?fields=Name",
             "referenceId": "readBack"},
            {"method": "GET", "referenceId": "q",
             "url": "/services/data/v62.0/query?q=SELECT+Id+FROM+Task+WHERE+WhoId='@{newLead.id}'"},
        ],
    }  # fmt: skip
    responses = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in responses] == [201, 201, 200, 200]
    lead_id = responses[0]["body"]["id"]
    assert responses[2]["body"]["Name"] == "Hopper"
    assert responses[3]["body"]["records"][0]["Id"] == responses[1]["body"]["id"]
    assert sf.Task.get(responses[1]["body"]["id"])["WhoId"] == lead_id


def test_composite_all_or_none_rolls_back(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """With allOrNone one failure undoes everything; the others report PROCESSING_HALTED."""
    before = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "ok",
             "body": {"LastName": "Kept?", "Company": "No"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "bad",
             "body": {"LastName": "Broken", "Company": "X", "NoSuchField__c": 1}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "after",
             "body": {"LastName": "Never", "Company": "No"}},
        ],
    }  # fmt: skip
    responses = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    codes = [(r["httpStatusCode"], r["body"][0]["errorCode"]) for r in responses]
    assert codes == [(400, "PROCESSING_HALTED"), (400, "INVALID_FIELD"), (400, "PROCESSING_HALTED")]
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == before


def test_composite_refuses_bad_reference_ids(sim: SimulatorHandle, sf: Salesforce) -> None:
    """Reference ids may only hold letters, digits and underscores."""
    body = {"compositeRequest": [{"method": "GET", "url": "/services/data/v62.0/limits",
                                  "referenceId": "bad-ref"}]}  # fmt: skip
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json=body)


def test_collections_update_in_order(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """composite/sobjects PATCH returns SaveResults in input order, failures in place."""
    ids = [sf.Lead.create({"LastName": f"C{i}", "Company": "Coll"})["id"] for i in range(2)]
    records = [
        {"attributes": {"type": "Lead"}, "id": ids[0], "Rating": "Hot"},
        {"attributes": {"type": "Lead"}, "id": "00Q000000000000EAA", "Rating": "Hot"},
        {"attributes": {"type": "Lead"}, "id": ids[1], "Rating": "Cold"},
    ]
    results = sf.restful("composite/sobjects", method="PATCH",
                         json={"allOrNone": False, "records": records})  # fmt: skip
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] in ("INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND")
    assert sf.Lead.get(ids[1])["Rating"] == "Cold"
    rolled = sf.restful("composite/sobjects", method="PATCH",
                        json={"allOrNone": True, "records": [
                            {**records[0], "Rating": "Warm"}, records[1]]})  # fmt: skip
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.Lead.get(ids[0])["Rating"] == "Hot"


def test_collections_need_a_type(sim: SimulatorHandle, sf: Salesforce) -> None:
    """A record without attributes.type makes the whole request a 400."""
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects", method="POST",
                   json={"records": [{"LastName": "Typeless", "Company": "X"}]})  # fmt: skip
