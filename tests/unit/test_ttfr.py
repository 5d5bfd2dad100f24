"""The first response to a lead: what counts, which one wins, what is written and what breaches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.business_hours import HolidayCalendar, RegionHours
from shared.errors import InvalidInputError
from shared.ttfr import ResponseCandidate, decide_first_touch, is_response

NEW_YORK = RegionHours(
    time_zone="America/New_York",
    days=("mon", "tue", "wed", "thu", "fri"),
    start="09:00",
    end="17:30",
    holidays=HolidayCalendar(country="US"),
)
# Tuesday 3 March 2026, 09:00 EST.
CREATED = "2026-03-03T14:00:00.000+0000"


def at(text: str) -> datetime:
    """An aware instant from ISO-8601 text (Salesforce's +0000 form included)."""
    return datetime.fromisoformat(text)


def task(
    record_id: str,
    completed: str | None,
    *,
    status: str = "Completed",
    kind: str | None = "Call",
    owner: str = "005000000000001AAA",
    **more: Any,
) -> ResponseCandidate:
    """A Task candidate as the REST API would return it."""
    record: dict[str, Any] = {
        "Id": record_id,
        "WhoId": "00Q000000000001AAA",
        "Status": status,
        "Type": kind,
        "OwnerId": owner,
        "CreatedDate": CREATED,
        "CompletedDateTime": completed,
        **more,
    }
    return ResponseCandidate.from_task(record)


def email(record_id: str, sent: str, *, incoming: bool = False, **more: Any) -> ResponseCandidate:
    """An EmailMessage candidate as the REST API would return it."""
    record = {
        "Id": record_id,
        "Incoming": incoming,
        "MessageDate": sent,
        "CreatedById": "005000000000002AAA",
        "FromAddress": "rep@example.com",
        "Status": "3",
        **more,
    }
    return ResponseCandidate.from_email(record)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (task("00T1", "2026-03-03T14:10:00Z", kind="Call"), True),
        (task("00T1", "2026-03-03T14:10:00Z", kind="Email"), True),
        (task("00T1", "2026-03-03T14:10:00Z", kind="Meeting"), True),
        (task("00T1", None, status="Not Started"), False),
        (task("00T1", None, status="In Progress"), False),
        (task("00T1", "2026-03-03T14:10:00Z", status="Done", IsClosed=True), True),
        (task("00T1", "2026-03-03T14:10:00Z", kind="Other"), False),
        (task("00T1", "2026-03-03T14:10:00Z", kind=None), False),
        (email("02s1", "2026-03-03T14:10:00Z", incoming=False), True),
        (email("02s1", "2026-03-03T14:10:00Z", incoming=True), False),
        (email("02s1", "2026-03-03T14:10:00Z", Status="5"), False),
        (email("02s1", "2026-03-03T14:10:00Z", Incoming=None), False),
    ],
    ids=[
        "completed-call",
        "completed-email-task",
        "completed-meeting",
        "open-task-not-started",
        "open-task-in-progress",
        "closed-custom-status",
        "wrong-task-type",
        "task-without-type",
        "outgoing-email",
        "incoming-email",
        "draft-email",
        "email-direction-unknown",
    ],
)
def test_what_counts_as_a_response(candidate: ResponseCandidate, expected: bool) -> None:
    """Only finished calls, emails and meetings, and sent outgoing mail, answer a lead."""
    assert is_response(candidate) is expected


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {
                "CompletedDateTime": "2026-03-03T15:00:00.000+0000",
                "LastModifiedDate": "2026-03-04T09:00:00.000+0000",
                "CreatedDate": "2026-03-03T14:01:00.000+0000",
            },
            "2026-03-03T15:00:00+00:00",
        ),
        (
            {
                "LastModifiedDate": "2026-03-04T09:00:00.000+0000",
                "CreatedDate": "2026-03-03T14:01:00.000+0000",
            },
            "2026-03-04T09:00:00+00:00",
        ),
        ({"CreatedDate": "2026-03-03T14:01:00.000+0000"}, "2026-03-03T14:01:00+00:00"),
    ],
    ids=["completed-date-time", "last-modified-without-completion", "created-date-last"],
)
def test_task_is_dated_by_its_completion(record: dict[str, Any], expected: str) -> None:
    """A task's moment is its completion, never its creation while a later date is known."""
    candidate = ResponseCandidate.from_task(
        {"Id": "00T1", "Status": "Completed", "Type": "Call", **record}
    )
    assert candidate.occurred_at == datetime.fromisoformat(expected)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"CreatedById": "005A", "FromAddress": "rep@example.com"}, "005A"),
        ({"FromAddress": "rep@example.com"}, "rep@example.com"),
    ],
    ids=["created-by-user", "from-address-when-no-user"],
)
def test_email_credits_its_sender(record: dict[str, Any], expected: str) -> None:
    """An email's responder is the Salesforce user who sent it, else the From address."""
    candidate = ResponseCandidate.from_email(
        {"Id": "02s1", "Incoming": False, "MessageDate": "2026-03-03T14:10:00Z", **record}
    )
    assert candidate.user_id == expected


@pytest.mark.parametrize(
    "record",
    [
        {"Status": "Completed", "Type": "Call", "CreatedDate": CREATED},
        {"Id": "00T1", "Status": "Completed", "Type": "Call"},
        {"Id": "00T1", "Status": "Completed", "Type": "Call", "CreatedDate": "2026-03-03T14:00"},
        {"Id": "00T1", "Status": "Completed", "Type": "Call", "CreatedDate": "yesterday"},
    ],
    ids=["no-id", "no-date", "naive-date", "unparseable-date"],
)
def test_unusable_task_records_are_input_errors(record: dict[str, Any]) -> None:
    """A record that cannot be placed in time is an InvalidInputError naming the record."""
    with pytest.raises(InvalidInputError, match="Task"):
        ResponseCandidate.from_task(record)


def decide(
    candidates: list[ResponseCandidate],
    *,
    stored: str | None = None,
    sla_hours: float | None = None,
    now: str = "2026-03-10T00:00:00Z",
    created: str = CREATED,
) -> Any:
    """decide_first_touch for lead 00Q1 in New York hours."""
    return decide_first_touch(
        lead_id="00Q1",
        created_at=at(created),
        stored_first_response_at=at(stored) if stored else None,
        candidates=candidates,
        hours=NEW_YORK,
        sla_hours=sla_hours,
        now=at(now),
    )


EARLY_CALL = task("00T2", "2026-03-03T14:20:00Z")
LATE_EMAIL = email("02s1", "2026-03-03T15:00:00Z")


@pytest.mark.parametrize(
    ("candidates", "record_id", "minutes"),
    [
        ([EARLY_CALL, LATE_EMAIL], "00T2", 20.0),
        ([LATE_EMAIL, EARLY_CALL], "00T2", 20.0),
        ([email("02s9", "2026-03-03T14:05:00Z", incoming=True), LATE_EMAIL], "02s1", 60.0),
        ([task("00T9", None, status="Not Started"), LATE_EMAIL], "02s1", 60.0),
        ([task("00T9", "2026-03-03T14:05:00Z", kind="Other"), LATE_EMAIL], "02s1", 60.0),
        ([email("02s1", "2026-03-03T14:20:00Z"), EARLY_CALL], "00T2", 20.0),
        ([task("00T5", "2026-03-03T14:20:00Z"), task("00T3", "2026-03-03T14:20:00Z")], "00T3", 20),
        ([task("00T1", "2026-03-03T13:50:00Z"), LATE_EMAIL], "00T1", 0.0),
        ([task("00T1", "2026-03-03T14:00:30Z")], "00T1", 0.5),
    ],
    ids=[
        "earliest-wins",
        "earliest-wins-any-input-order",
        "incoming-mail-ignored",
        "open-task-ignored",
        "wrong-task-type-ignored",
        "tie-task-before-email",
        "tie-lower-id",
        "before-creation-counts-as-zero",
        "fractional-minutes",
    ],
)
def test_earliest_response_wins(
    candidates: list[ResponseCandidate], record_id: str, minutes: float
) -> None:
    """The first relevant response is chosen deterministically and measured from CreatedDate."""
    decision = decide(candidates)
    assert decision.source_record_id == record_id
    assert decision.ttfr_minutes == minutes
    assert decision.should_write is True


def test_first_response_is_credited_to_its_record_and_user() -> None:
    """The decision names the kind, record, user and instant of the winning response."""
    decision = decide([LATE_EMAIL])
    assert (decision.source, decision.first_response_user) == ("EmailMessage", "005000000000002AAA")
    assert decision.first_response_at == at("2026-03-03T15:00:00Z")


@pytest.mark.parametrize(
    ("created", "responded", "business"),
    [
        # Tue 09:00 to 09:20 EST.
        ("2026-03-03T14:00:00Z", "2026-03-03T14:20:00Z", 20.0),
        # Fri 15:30 EST to Mon 10:30 EDT: Fri 120 + Mon 90 across the spring-forward weekend.
        ("2026-03-06T20:30:00Z", "2026-03-09T14:30:00Z", 210.0),
        # Wed 17:00 EST to Fri 09:30 EST: Wed 30, Thanksgiving off, Fri 30.
        ("2026-11-25T22:00:00Z", "2026-11-27T14:30:00Z", 60.0),
        # Sat 10:00 to Sun 18:00 EST: never open.
        ("2026-03-07T15:00:00Z", "2026-03-08T22:00:00Z", 0.0),
    ],
    ids=["same-morning", "weekend-and-dst", "thanksgiving", "weekend-only"],
)
def test_business_minutes_use_owner_region(created: str, responded: str, business: float) -> None:
    """Business minutes count only the owner region's working hours between creation and reply."""
    decision = decide([email("02s1", responded)], created=created)
    assert decision.business_minutes == business


@pytest.mark.parametrize(
    ("stored", "should_write", "first_at", "record_id"),
    [
        (None, True, "2026-03-03T14:20:00Z", "00T2"),
        ("2026-03-03T14:30:00Z", True, "2026-03-03T14:20:00Z", "00T2"),
        ("2026-03-03T14:20:00Z", False, "2026-03-03T14:20:00Z", "00T2"),
        ("2026-03-03T14:10:00Z", False, "2026-03-03T14:10:00Z", None),
    ],
    ids=["nothing-stored-write", "stored-later-write", "stored-equal-no-write", "stored-earlier"],
)
def test_first_response_only_moves_earlier(
    stored: str | None, should_write: bool, first_at: str, record_id: str | None
) -> None:
    """First_Response_At__c is written only when the response found is strictly earlier."""
    decision = decide([EARLY_CALL, LATE_EMAIL], stored=stored)
    assert decision.should_write is should_write
    assert decision.first_response_at == at(first_at)
    assert decision.source_record_id == record_id


def test_stored_response_stands_when_no_record_is_found() -> None:
    """A lead already answered keeps its stored time and is not reported as unanswered."""
    decision = decide([], stored="2026-03-03T14:45:00Z", sla_hours=0.5, now="2026-03-09T00:00Z")
    assert decision.should_write is False
    assert decision.ttfr_minutes == 45.0
    assert (decision.breached_60_minutes, decision.breached_segment_sla) == (False, True)


@pytest.mark.parametrize(
    ("responded", "sla_hours", "breached_60", "breached_sla"),
    [
        ("2026-03-03T15:00:00Z", None, False, None),
        ("2026-03-03T15:00:30Z", None, True, None),
        ("2026-03-03T22:00:00Z", 8.0, True, False),
        ("2026-03-03T22:00:30Z", 8.0, True, True),
        ("2026-03-03T14:30:00Z", 0.25, False, True),
    ],
    ids=[
        "exactly-60-not-breached",
        "over-60-breached",
        "exactly-sla-not-breached",
        "over-sla-breached",
        "sla-shorter-than-hour",
    ],
)
def test_sla_flags_for_answered_leads(
    responded: str, sla_hours: float | None, breached_60: bool, breached_sla: bool | None
) -> None:
    """Breach means strictly more calendar minutes than the limit; no SLA given means no verdict."""
    decision = decide([email("02s1", responded)], sla_hours=sla_hours)
    assert decision.breached_60_minutes is breached_60
    assert decision.breached_segment_sla is breached_sla


@pytest.mark.parametrize(
    ("now", "sla_hours", "breached_60", "breached_sla"),
    [
        ("2026-03-03T14:30:00Z", 8.0, False, False),
        ("2026-03-03T15:30:00Z", 8.0, True, False),
        ("2026-03-03T23:00:00Z", 8.0, True, True),
        ("2026-03-03T23:00:00Z", None, True, None),
    ],
    ids=["still-in-first-hour", "past-hour-within-sla", "past-sla", "no-sla-given"],
)
def test_unanswered_lead_is_measured_against_now(
    now: str, sla_hours: float | None, breached_60: bool, breached_sla: bool | None
) -> None:
    """A lead nobody answered breaches once now is past the limit, and nothing is written."""
    decision = decide(
        [email("02s9", "2026-03-03T14:05:00Z", incoming=True)], sla_hours=sla_hours, now=now
    )
    assert decision.first_response_at is None
    assert decision.ttfr_minutes is None
    assert decision.should_write is False
    assert decision.breached_60_minutes is breached_60
    assert decision.breached_segment_sla is breached_sla
    assert "incoming email" in decision.reason


def test_reason_says_why() -> None:
    """The reason names the response, its timing and the write verdict."""
    decision = decide([LATE_EMAIL, EARLY_CALL], stored="2026-03-03T14:30:00Z")
    assert "Task 00T2 (Call)" in decision.reason
    assert "20.00 min after creation" in decision.reason
    assert "write" in decision.reason


def test_naive_creation_time_is_refused() -> None:
    """Minutes between a naive and an aware time are undefined, so the input is rejected."""
    with pytest.raises(InvalidInputError, match="created_at"):
        decide_first_touch(
            lead_id="00Q1",
            created_at=datetime(2026, 3, 3, 14),
            stored_first_response_at=None,
            candidates=[LATE_EMAIL],
            hours=NEW_YORK,
            sla_hours=None,
            now=datetime(2026, 3, 10, tzinfo=UTC),
        )
