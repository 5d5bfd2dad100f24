"""lead.first_touch_detect on fakes: the earliest response is written, and only ever earlier."""

from __future__ import annotations

import pytest

from shared.flywheel.port import FakeFlywheel
from shared.salesforce import FakeSalesforce
from tests.unit.workers_fakes import START, make_deps, response_activity
from workers.first_touch import detect_first_touch
from workers.idempotency import ClaimBusyError

UK_MM = {"LastName": "Brown", "Company": "Beta", "Country": "UK", "NumberOfEmployees": 500}


@pytest.fixture
def sf() -> FakeSalesforce:
    return FakeSalesforce(start=START)


def ttfr_writes(sf: FakeSalesforce, lead_id: str) -> list[dict[str, object]]:
    return [
        dict(u.fields)
        for u in sf.updates
        if u.record_id == lead_id and "First_Response_At__c" in u.fields
    ]


def test_the_first_completed_call_is_written_with_minutes_and_who(sf: FakeSalesforce) -> None:
    """A call 30 minutes after creation on a Monday morning: 30 calendar and business minutes."""
    rep = sf.create("User", {"LastName": "Rep"})
    lead = sf.create("Lead", UK_MM)
    sf.advance(30 * 60)
    task = sf.create("Task", {"WhoId": lead, "Type": "Call", "Status": "Completed", "OwnerId": rep})

    outcome = detect_first_touch(
        make_deps(sf), message=response_activity(task, source="Task", lead_id=lead)
    )

    assert outcome.outcome == "written"
    [written] = ttfr_writes(sf, lead)
    assert written == {
        "First_Response_At__c": sf.now(),
        "First_Response_User__c": rep,
        "First_Response_Source__c": "Task",
        "Time_to_First_Response__c": 30.0,
        "Business_Minutes_to_First_Response__c": 30.0,
    }


def test_an_update_without_who_id_reads_the_task_to_find_the_lead(sf: FakeSalesforce) -> None:
    """A Task UPDATE event does not carry WhoId: the worker reads the task."""
    lead = sf.create("Lead", UK_MM)
    sf.advance(60)
    task = sf.create("Task", {"WhoId": lead, "Type": "Email", "Status": "Completed"})

    outcome = detect_first_touch(
        make_deps(sf),
        message=response_activity(task, source="Task", lead_id=None, change_type="UPDATE"),
    )

    assert (outcome.lead_id, outcome.outcome) == (lead, "written")


def test_activity_on_a_contact_is_not_a_lead_response(sf: FakeSalesforce) -> None:
    """A task whose WhoId is a Contact touches no lead."""
    contact = sf.create("Contact", {"LastName": "C"})
    task = sf.create("Task", {"WhoId": contact, "Type": "Call", "Status": "Completed"})

    outcome = detect_first_touch(
        make_deps(sf),
        message=response_activity(task, source="Task", lead_id=None, change_type="UPDATE"),
    )

    assert outcome.outcome == "not_on_lead"
    assert sf.updates == []


def test_a_later_response_never_replaces_an_earlier_one(sf: FakeSalesforce) -> None:
    """Once the first response is stored, a later task changes nothing."""
    lead = sf.create("Lead", UK_MM)
    sf.advance(600)
    first = sf.create("Task", {"WhoId": lead, "Type": "Call", "Status": "Completed"})
    deps = make_deps(sf)
    detect_first_touch(deps, message=response_activity(first, source="Task", lead_id=lead))
    sf.advance(600)
    later = sf.create("Task", {"WhoId": lead, "Type": "Meeting", "Status": "Completed"})

    outcome = detect_first_touch(
        deps, message=response_activity(later, source="Task", lead_id=lead)
    )

    assert outcome.outcome == "unchanged"
    assert len(ttfr_writes(sf, lead)) == 1


def test_an_earlier_email_found_later_moves_the_first_response_back(sf: FakeSalesforce) -> None:
    """An outgoing email dated before the stored task is the new first response."""
    lead = sf.create("Lead", UK_MM)
    sf.advance(3600)
    task = sf.create("Task", {"WhoId": lead, "Type": "Call", "Status": "Completed"})
    deps = make_deps(sf)
    detect_first_touch(deps, message=response_activity(task, source="Task", lead_id=lead))
    sf.advance(5)
    email = sf.create(
        "EmailMessage",
        {
            "RelatedToId": lead,
            "Incoming": False,
            "Status": "3",
            "MessageDate": START.replace(minute=10),
        },
    )

    outcome = detect_first_touch(
        deps, message=response_activity(email, source="EmailMessage", lead_id=lead)
    )

    assert outcome.outcome == "written"
    assert ttfr_writes(sf, lead)[-1]["First_Response_At__c"] == START.replace(minute=10)
    assert ttfr_writes(sf, lead)[-1]["Time_to_First_Response__c"] == 10.0


def test_no_response_yet_writes_nothing(sf: FakeSalesforce) -> None:
    """An open task is not a response: nothing is written."""
    lead = sf.create("Lead", UK_MM)
    sf.create("Task", {"WhoId": lead, "Type": "Call", "Status": "Not Started"})

    outcome = detect_first_touch(make_deps(sf), lead_id=lead)

    assert outcome.outcome == "no_response"
    assert sf.updates == []


def test_runs_for_one_lead_take_turns(sf: FakeSalesforce) -> None:
    """While another run holds the lead's lease, this run waits instead of racing it."""
    lead = sf.create("Lead", UK_MM)
    deps = make_deps(sf)
    assert deps.first_touch_leases.acquire(lead, "other") is None

    with pytest.raises(ClaimBusyError):
        detect_first_touch(deps, lead_id=lead)


def test_the_record_carries_the_leads_owner_segment_region_and_creation(
    sf: FakeSalesforce,
) -> None:
    """Analytics slices TTFR by owner, segment and region; the first-touch record carries them."""
    rep = sf.create("User", {"LastName": "Rep"})
    lead = sf.create("Lead", {**UK_MM, "OwnerId": rep})
    created = sf.now()
    sf.advance(45 * 60)
    task = sf.create(
        "Task", {"WhoId": lead, "Type": "Email", "Status": "Completed", "OwnerId": rep}
    )
    flywheel = FakeFlywheel()

    detect_first_touch(
        make_deps(sf, flywheel=flywheel),
        message=response_activity(task, source="Task", lead_id=lead),
    )

    [record] = flywheel.for_workload("lead.first_touch_detect")
    decision = record["decision"]
    assert (decision["owner"], decision["segment"], decision["region"]) == (rep, "MM", "EMEA")
    assert decision["lead_created_at"] == created.isoformat()
    assert decision["ttfr_minutes"] == 45.0
