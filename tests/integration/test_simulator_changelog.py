"""The change log: what Change Data Capture will stream for each committed change."""

from __future__ import annotations

import threading

import pytest
from simple_salesforce import Salesforce

from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration


def test_create_and_update_entries(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A create carries every field; an update carries changed and nulled fields and its origin."""
    start = fresh_sim.change_log_position()
    lead = sf.Lead.create({"LastName": "Logged", "Company": "X", "Title": "CTO"})["id"]
    sf.Lead.update(lead, {"Title": None, "Rating": "Hot"},
                   headers={"Sforce-Call-Options": "client=leadfleet",
                            "Sforce-Auto-Assign": "FALSE"})  # fmt: skip
    created, updated = fresh_sim.change_log(since=start)
    assert created.change_type == "CREATE" and created.record_ids == (lead,)
    assert created.values["Title"] == "CTO" and "First_Response_At__c" in created.values
    assert created.origin == "com/salesforce/api/rest/62.0"
    assert created.commit_user == fresh_sim.user_id
    assert updated.change_type == "UPDATE"
    assert set(updated.changed_fields) == {"Title", "Rating", "LastModifiedDate"}
    assert updated.nulled_fields == ("Title",)
    assert updated.values["Rating"] == "Hot"
    assert updated.origin == "com/salesforce/api/rest/62.0;client=leadfleet"
    assert updated.position > created.position
    assert updated.transaction_key != created.transaction_key


def test_identical_collection_changes_are_one_entry(
    fresh_sim: SimulatorHandle, sf: Salesforce
) -> None:
    """Setting the same value on several records in one request is one change with several ids."""
    ids = [sf.Lead.create({"LastName": f"M{i}", "Company": "X"})["id"] for i in range(3)]
    start = fresh_sim.change_log_position()
    records = [{"attributes": {"type": "Lead"}, "id": i, "Rating": "Warm"} for i in ids]
    records.append({"attributes": {"type": "Lead"}, "id": ids[0], "Title": "Different"})
    sf.restful("composite/sobjects", method="PATCH",
               json={"allOrNone": True, "records": records},
               headers={"Sforce-Auto-Assign": "FALSE"})  # fmt: skip
    entries = fresh_sim.change_log(since=start)
    assert len(entries) == 2
    assert entries[0].record_ids == tuple(ids)
    assert entries[0].transaction_key == entries[1].transaction_key
    assert [e.sequence_number for e in entries] == [1, 2]
    assert entries[1].record_ids == (ids[0],)


def test_rolled_back_work_leaves_no_entry(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A failed allOrNone collection records nothing."""
    start = fresh_sim.change_log_position()
    records = [
        {"attributes": {"type": "Lead"}, "LastName": "Gone", "Company": "X"},
        {"attributes": {"type": "Lead"}, "LastName": "Bad", "Company": "X", "Bogus": 1},
    ]
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert fresh_sim.change_log(since=start) == []


def test_delete_entry_and_waiting_reader(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """A reader waiting on the log wakes up for a commit; deletes are logged without values."""
    lead = sf.Lead.create({"LastName": "Doomed", "Company": "X"})["id"]
    start = fresh_sim.change_log_position()
    woke = threading.Event()

    def reader() -> None:
        if fresh_sim.org.changelog.wait(start, timeout=10):
            woke.set()

    thread = threading.Thread(target=reader)
    thread.start()
    sf.Lead.delete(lead)
    thread.join(timeout=10)
    assert woke.is_set()
    (deleted,) = fresh_sim.change_log(since=start)
    assert deleted.change_type == "DELETE" and deleted.record_ids == (lead,)
    assert deleted.values == {}


def test_composite_is_one_transaction(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """Every change of one composite request shares a transaction key, in order."""
    start = fresh_sim.change_log_position()
    body = {"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Lead", "referenceId": "l",
         "body": {"LastName": "Txn", "Company": "X"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Task", "referenceId": "t",
         "body": {"WhoId": "@{l.id}", "Status": "Completed", "Type": "Call"}},
    ]}  # fmt: skip
    sf.restful("composite", method="POST", json=body,
               headers={"Sforce-Call-Options": "client=ops"})  # fmt: skip
    lead_entry, task_entry = fresh_sim.change_log(since=start)
    assert (lead_entry.entity, task_entry.entity) == ("Lead", "Task")
    assert lead_entry.transaction_key == task_entry.transaction_key
    assert task_entry.values["WhoId"] == lead_entry.record_ids[0]
    assert task_entry.values["IsClosed"] is True and task_entry.values["Status"] == "Completed"
    assert task_entry.origin.endswith(";client=ops")
