"""Records read back after a gap or a lost window give the messages the change would have given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from listener.dispatch import Drop, DropReason
from listener.recovery import Recovery, recovered_message, reread_soql, window_soql
from listener.testing import FakeRecordReader
from shared.errors import InvalidInputError
from shared.messages import (
    LeadCreatedMessage,
    Queue,
    ReconcileMessage,
    RereadMessage,
    ResponseActivityMessage,
)
from shared.salesforce.ids import to_18

LEAD = to_18("00Q000000000001")
TASK = to_18("00T000000000001")
EMAIL = to_18("02s000000000001")
CONTACT = to_18("003000000000001")
INTEGRATION_USER = to_18("005000000000001")
REP = to_18("005000000000002")
STAMP = "2026-01-05T10:00:00.000+0000"


def _lead(**extra: Any) -> dict[str, Any]:
    return {"Id": LEAD, "LastName": "Ng", "Company": "Acme", "CreatedDate": STAMP,
            "LastModifiedDate": STAMP, "CreatedById": REP, "Owner_Assigned_At__c": None,
            **extra}  # fmt: skip


def _task(**extra: Any) -> dict[str, Any]:
    return {"Id": TASK, "WhoId": LEAD, "Status": "Completed", "Type": "Call",
            "CreatedDate": STAMP, "LastModifiedDate": STAMP, "LastModifiedById": REP,
            **extra}  # fmt: skip


def _email(**extra: Any) -> dict[str, Any]:
    return {"Id": EMAIL, "RelatedToId": LEAD, "Incoming": False, "Status": "3",
            "CreatedDate": STAMP, "LastModifiedDate": STAMP, "CreatedById": REP,
            **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("entity", "record", "unrouted_only", "expected"),
    [
        ("Lead", _lead(), True, Queue.LEAD_ROUTE),
        ("Lead", _lead(Owner_Assigned_At__c=STAMP), True, DropReason.OWNER_UNCHANGED),
        ("Lead", _lead(Owner_Assigned_At__c=STAMP), False, Queue.LEAD_ROUTE),
        ("Task", _task(), True, Queue.FIRST_TOUCH_DETECT),
        ("Task", _task(Status="Not Started"), True, DropReason.TASK_NOT_COMPLETED),
        ("Task", _task(Type="Other"), True, DropReason.TASK_NOT_COMPLETED),
        ("Task", _task(WhoId=CONTACT), True, DropReason.TASK_NOT_ON_LEAD),
        ("Task", _task(WhoId=None), True, DropReason.TASK_NOT_ON_LEAD),
        ("EmailMessage", _email(), True, Queue.FIRST_TOUCH_DETECT),
        ("EmailMessage", _email(Incoming=True), True, DropReason.EMAIL_NOT_OUTGOING),
        ("EmailMessage", _email(Status="5"), True, DropReason.EMAIL_DRAFT),
        ("EmailMessage", _email(RelatedToId=CONTACT), True, DropReason.EMAIL_NOT_ON_LEAD),
    ],
    ids=[
        "lead-unrouted",
        "lead-reread-already-routed",
        "lead-reconciled-routed-anyway",
        "task-completed-call-on-lead",
        "task-open",
        "task-other-type",
        "task-on-contact",
        "task-without-who",
        "email-outgoing-on-lead",
        "email-incoming",
        "email-draft",
        "email-on-contact",
    ],
)
def test_recovered_record_rules(
    entity: str, record: dict[str, Any], unrouted_only: bool, expected: Queue | DropReason
) -> None:
    """Each re-read record gives the queue its change would have, or a drop reason."""
    outcome = recovered_message(
        entity,
        record,
        topic=f"/data/{entity}ChangeEvent",
        replay_id="",
        change_type="CREATE",
        source="reread",
        unrouted_only=unrouted_only,
    )
    got = outcome.reason if isinstance(outcome, Drop) else outcome.queue
    assert got == expected


def test_a_recovered_message_carries_the_record_and_a_stable_id() -> None:
    """Date-times become ISO Z, the lead id is set, and the event id names record and state."""
    outcome = recovered_message(
        "Task", _task(), topic="/data/TaskChangeEvent", replay_id="0a",
        change_type="UPDATE", source="reconcile", unrouted_only=False,
    )  # fmt: skip
    assert isinstance(outcome, ResponseActivityMessage)
    assert outcome.lead_id == LEAD
    assert outcome.fields["LastModifiedDate"] == "2026-01-05T10:00:00.000Z"
    assert outcome.event_id == f"reconcile:Task:{TASK}:2026-01-05T10:00:00.000Z"
    assert outcome.commit_timestamp == datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_own_writes_are_dropped_only_when_the_author_is_named() -> None:
    """With own_user_id (polling), a record leadfleet's user wrote is its own echo."""
    mine = _email(CreatedById=INTEGRATION_USER)
    common: dict[str, Any] = {"topic": "t", "replay_id": "", "change_type": "CREATE",
                              "source": "poll", "unrouted_only": False}  # fmt: skip
    as_poll = recovered_message("EmailMessage", mine, own_user_id=INTEGRATION_USER, **common)
    as_reread = recovered_message("EmailMessage", mine, **common)
    assert isinstance(as_poll, Drop) and as_poll.reason == DropReason.OWN_ECHO
    assert isinstance(as_reread, ResponseActivityMessage)


def test_window_queries_select_by_the_entitys_window_field() -> None:
    """Leads by CreatedDate; completed response tasks by LastModifiedDate; sent emails by
    CreatedDate; the window's bounds widen to whole seconds."""
    since = datetime(2026, 1, 5, 9, 0, 0, 500_000, tzinfo=UTC)
    until = datetime(2026, 1, 5, 9, 59, 59, 500_000, tzinfo=UTC)
    lead = window_soql("Lead", since, until)
    task = window_soql("Task", since, None)
    email = window_soql("EmailMessage", since, until)
    assert (
        "WHERE CreatedDate >= 2026-01-05T09:00:00Z AND CreatedDate <= 2026-01-05T10:00:00Z" in lead
    )
    assert "LastModifiedDate >= 2026-01-05T09:00:00Z AND Status = 'Completed'" in task
    assert "Type IN ('Call', 'Email', 'Meeting')" in task
    assert "Incoming = false AND Status != '5'" in email


def test_reread_queries_validate_ids_before_any_request() -> None:
    """A hostile id never reaches SOQL."""
    assert f"WHERE Id IN ('{LEAD}')" in reread_soql("Lead", [LEAD])
    with pytest.raises(InvalidInputError):
        reread_soql("Lead", ["00Q' OR Name != '"])


def test_reread_skips_deleted_records_and_gap_deletes() -> None:
    """GAP_DELETE reads nothing; ids that no longer exist give nothing."""
    reader = FakeRecordReader()
    reader.add("Lead", **_lead())
    recovery = Recovery(reader)
    common: dict[str, Any] = {
        "event_id": "e", "topic": "/data/LeadChangeEvent", "replay_id": "01", "entity": "Lead",
        "commit_timestamp": datetime(2026, 1, 5, tzinfo=UTC), "commit_user": REP,
    }  # fmt: skip
    gone = to_18("00Q000000000009")
    found = recovery.reread(
        RereadMessage(record_id=LEAD, record_ids=[LEAD, gone], change_type="GAP_CREATE", **common)
    )
    deleted = recovery.reread(
        RereadMessage(record_id=LEAD, record_ids=[LEAD], change_type="GAP_DELETE", **common)
    )
    assert [r.record_id for r in found] == [LEAD]
    assert isinstance(found[0].outcome, LeadCreatedMessage)
    assert deleted == []
    assert len(reader.queries) == 1


def test_reconcile_reads_each_window_record() -> None:
    """A reconcile message's window selects records at or after since."""
    reader = FakeRecordReader()
    reader.add("Task", **_task())
    reader.add(
        "Task", **_task(Id=to_18("00T000000000002"), LastModifiedDate="2026-01-01T00:00:00Z")
    )
    message = ReconcileMessage(
        event_id="e",
        topic="/data/TaskChangeEvent",
        entity="Task",
        since=datetime(2026, 1, 5, 9, tzinfo=UTC),
        until=datetime(2026, 1, 5, 11, tzinfo=UTC),
        reason="gap_overflow",
    )
    recovered = Recovery(reader).reconcile(message)
    assert [r.record_id for r in recovered] == [TASK]
