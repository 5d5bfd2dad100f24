"""What the contract suite cannot show about FakeSalesforce: its records and its told failures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import InvalidInputError
from shared.salesforce import FakeSalesforce, NotFoundError, RowLockError, ServerError
from shared.salesforce.errors import error_from_response
from shared.salesforce.fake import RecordedUpdate, SentEmail

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> FakeSalesforce:
    return FakeSalesforce(start=START)


def test_records_what_workloads_did(fake: FakeSalesforce) -> None:
    """Updates and sent emails are kept in order so a workload test can assert on them."""
    lead = fake.create("Lead", {"LastName": "Ada", "Company": "Acme", "Email": "ada@acme.com"})
    fake.update_lead(lead, {"Routing_Reason__c": "segment SMB"}, if_unmodified_since=START)
    fake.send_simple_email(lead_id=lead, to_address="ada@acme.com", subject="Hi", body="Hello")

    assert fake.updates == [
        RecordedUpdate("Lead", lead, {"Routing_Reason__c": "segment SMB"}, START)
    ]
    assert [(e.lead_id, e.to_address, e.subject) for e in fake.emails_sent] == [
        (lead, "ada@acme.com", "Hi")
    ]
    assert isinstance(fake.emails_sent[0], SentEmail)
    assert [c.op for c in fake.calls] == ["update_lead", "send_simple_email"]


def test_fail_next_raises_the_given_error_then_recovers(fake: FakeSalesforce) -> None:
    """A told failure hits exactly the next calls of that operation, nothing else."""
    lead = fake.create("Lead", {"LastName": "Ada", "Company": "Acme"})
    lock = error_from_response(400, [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "m"}], "Lead")
    fake.fail_next("update_lead", lock, times=2)

    assert fake.get_lead(lead).LastName == "Ada"
    for _ in range(2):
        with pytest.raises(RowLockError):
            fake.update_lead(lead, {"Title": "CTO"})
    fake.update_lead(lead, {"Title": "CTO"})
    assert fake.get_lead(lead).Title == "CTO"


def test_failed_write_changes_nothing(fake: FakeSalesforce) -> None:
    """A write that fails leaves the record as it was and is not recorded as an update."""
    lead = fake.create("Lead", {"LastName": "Ada", "Company": "Acme"})
    fake.fail_next("update_lead", ServerError("down", status=503))
    with pytest.raises(ServerError):
        fake.update_lead(lead, {"Title": "CTO"})
    assert fake.get_lead(lead).Title is None
    assert fake.updates == []


def test_random_failures_repeat_with_the_same_seed() -> None:
    """A failure rate with a seed fails the same calls on every run."""

    def outcomes(seed: int) -> list[bool]:
        fake = FakeSalesforce(start=START)
        fake.fail_randomly(0.3, seed=seed)
        results = []
        for _ in range(40):
            try:
                fake.limits()
                results.append(True)
            except ServerError:
                results.append(False)
        return results

    first = outcomes(11)
    assert first == outcomes(11)
    assert 0 < first.count(False) < 40


def test_unknown_operation_cannot_be_told_to_fail(fake: FakeSalesforce) -> None:
    """A typo in a test's failure setup fails loudly instead of never firing."""
    with pytest.raises(ValueError, match="unknown operation"):
        fake.fail_next("update_leads", ServerError("x"))


def test_ids_are_validated_like_the_real_client(fake: FakeSalesforce) -> None:
    """Hostile ids fail before the fake looks anything up, and unknown ids are NOT_FOUND."""
    with pytest.raises(InvalidInputError):
        fake.get_lead("00Q' OR Id != '")
    with pytest.raises(NotFoundError):
        fake.get_lead("00Q000000000001")
    assert fake.calls[-1].op == "get_lead"
