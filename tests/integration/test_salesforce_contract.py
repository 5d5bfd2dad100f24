"""One contract for SalesforcePort: FakeSalesforce and the real client on the simulator answer alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from simple_salesforce.api import Salesforce

from shared.errors import InvalidInputError
from shared.salesforce import (
    EmailOptedOutError,
    FakeSalesforce,
    NotFoundError,
    SalesforcePort,
    SingleEmailLimitError,
    StaleRecordError,
    build_salesforce_client,
)
from shared.salesforce.ids import to_18
from shared.salesforce.wire import json_fields
from shared.settings import SalesforceSettings
from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration

MISSING_LEAD = to_18("00Q000000000001")
NO_AUTO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}


@dataclass
class Backend:
    """A port plus the org-side powers a test needs: seed records, edit as a person, move time."""

    port: SalesforcePort
    create: Callable[[str, Mapping[str, object]], str]
    edit: Callable[[str, str, Mapping[str, object]], None]
    advance: Callable[[float], None]
    now: Callable[[], datetime]
    allow_emails: Callable[[int], None]
    restore: Callable[[], None] = lambda: None


def fake_backend() -> Backend:
    fake = FakeSalesforce()

    def allow_emails(count: int) -> None:
        fake.single_email_limit = len(fake.emails_sent) + count

    return Backend(fake, fake.create, fake.touch, fake.advance, fake.now, allow_emails)


def real_backend(sim: SimulatorHandle, sf: Salesforce, prefix: str) -> Backend:
    settings = SalesforceSettings(
        login_url=sim.login_url,
        consumer_key=SecretStr(sim.consumer_key),
        username=sim.username,
        private_key_path=sim.private_key_path,
        ca_bundle=sim.ca_bundle,
        api_version="62.0",
    )
    client = build_salesforce_client(
        settings, redis.Redis.from_url("redis://127.0.0.1:6379/0"), key_prefix=prefix
    )

    def create(sobject: str, fields: Mapping[str, object]) -> str:
        result = getattr(sf, sobject).create(json_fields(fields), headers=NO_AUTO_ASSIGN)
        return str(result["id"])

    def edit(sobject: str, record_id: str, fields: Mapping[str, object]) -> None:
        getattr(sf, sobject).update(record_id, json_fields(fields), headers=NO_AUTO_ASSIGN)

    def now() -> datetime:
        return datetime.fromisoformat(str(sim.state()["now"]))

    original_caps: list[int] = []

    def allow_emails(count: int) -> None:
        single = client.limits().limits["SingleEmail"]
        original_caps.append(single.Max)
        sim.set_limit("SingleEmail", single.used + count)

    def restore() -> None:
        if original_caps:
            sim.set_limit("SingleEmail", original_caps[0])

    return Backend(client, create, edit, sim.shift_clock, now, allow_emails, restore)


@pytest.fixture(params=["fake", "real"])
def org(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The same org-facing contract, once in memory and once over HTTPS against the simulator."""
    if request.param == "fake":
        yield fake_backend()
        return
    sim: SimulatorHandle = request.getfixturevalue("sim")
    sf: Salesforce = request.getfixturevalue("sf")
    prefix = f"test-contract-{uuid.uuid4().hex}"
    backend = real_backend(sim, sf, prefix)
    yield backend
    backend.restore()
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def unique() -> str:
    return uuid.uuid4().hex[:10]


def new_lead(org: Backend, **fields: object) -> str:
    return org.create("Lead", {"LastName": "Lovelace", "Company": "Analytical", **fields})


def new_user(org: Backend, name: str) -> str:
    tag = unique()
    return org.create(
        "User",
        {"Username": f"{name}.{tag}@contract.example", "LastName": name,
         "Email": f"{name}.{tag}@contract.example"},
    )  # fmt: skip


def test_get_lead_returns_fields_and_last_modified(org: Backend) -> None:
    """A lead reads back with its fields and the LastModifiedDate a guarded write needs."""
    lead_id = new_lead(org, Email="ada@analytical.example", Country="United Kingdom")

    lead = org.port.get_lead(lead_id)
    assert (lead.Id, lead.LastName, lead.Company, lead.Email, lead.Country) == (
        lead_id, "Lovelace", "Analytical", "ada@analytical.example", "United Kingdom",
    )  # fmt: skip
    assert lead.LastModifiedDate is not None
    assert lead.HasOptedOutOfEmail is False

    narrow = org.port.get_lead(lead_id[:15], fields=["Company"])
    assert (narrow.Id, narrow.Company, narrow.LastName) == (lead_id, "Analytical", None)
    assert narrow.LastModifiedDate == lead.LastModifiedDate


def test_update_lead_writes_fields(org: Backend) -> None:
    """Text, numbers and aware datetimes written by update_lead read back unchanged."""
    lead_id = new_lead(org)
    responded = datetime(2024, 5, 1, 9, 30, 15, 123000, tzinfo=UTC)
    org.port.update_lead(
        lead_id,
        {"Title": "CTO", "Routing_Reason__c": "segment SMB", "First_Response_At__c": responded},
    )
    lead = org.port.get_lead(lead_id)
    assert (lead.Title, lead.First_Response_At__c) == ("CTO", responded)


def test_missing_lead_is_not_found(org: Backend) -> None:
    """A well-formed id of no record is NOT_FOUND, a permanent error."""
    with pytest.raises(NotFoundError):
        org.port.get_lead(MISSING_LEAD)
    with pytest.raises(NotFoundError):
        org.port.update_lead(MISSING_LEAD, {"Title": "CTO"})


def test_write_after_someone_else_changed_the_lead_is_stale(org: Backend) -> None:
    """If-Unmodified-Since refuses a write over a newer change; a fresh read lets it through."""
    lead_id = new_lead(org)
    seen = org.port.get_lead(lead_id).LastModifiedDate
    assert seen is not None
    org.advance(2)
    org.edit("Lead", lead_id, {"Title": "Changed by a person"})

    with pytest.raises(StaleRecordError):
        org.port.update_lead(lead_id, {"Title": "leadfleet"}, if_unmodified_since=seen)
    assert org.port.get_lead(lead_id).Title == "Changed by a person"

    fresh = org.port.get_lead(lead_id).LastModifiedDate
    assert fresh is not None
    org.port.update_lead(lead_id, {"Title": "leadfleet"}, if_unmodified_since=fresh)
    assert org.port.get_lead(lead_id).Title == "leadfleet"


def test_earliest_completed_task_skips_decoys(org: Backend) -> None:
    """Only completed Call/Email/Meeting tasks of this lead count, earliest completion first."""
    lead_id = new_lead(org)
    other_lead = new_lead(org)
    assert org.port.earliest_completed_task(lead_id) is None

    def task(who: str, status: str, kind: str) -> str:
        org.advance(3)
        return org.create("Task", {"WhoId": who, "Status": status, "Type": kind, "Subject": kind})

    opened_first = task(lead_id, "Not Started", "Call")
    task(lead_id, "Completed", "Other")
    task(other_lead, "Completed", "Call")
    first = task(lead_id, "Completed", "Email")
    task(lead_id, "Completed", "Meeting")
    org.advance(3)
    org.edit("Task", opened_first, {"Status": "Completed"})

    found = org.port.earliest_completed_task(lead_id)
    assert found is not None
    assert (found.Id, found.WhoId, found.Type, found.Status) == (
        first, lead_id, "Email", "Completed",
    )  # fmt: skip
    assert found.CompletedDateTime is not None
    assert org.port.get_task(opened_first).CompletedDateTime is not None
    assert org.port.get_task(first).WhoId == lead_id


def test_earliest_outgoing_email_skips_decoys(org: Backend) -> None:
    """Incoming mail, drafts and other leads' mail are not a response; the first sent one is."""
    lead_id = new_lead(org)
    other_lead = new_lead(org)
    assert org.port.earliest_outgoing_email(lead_id) is None
    base = org.now() - timedelta(hours=6)

    def email(related: str, *, incoming: bool, status: str, hours: int) -> str:
        return org.create(
            "EmailMessage",
            {"RelatedToId": related, "Incoming": incoming, "Status": status,
             "MessageDate": base + timedelta(hours=hours), "Subject": "s",
             "FromAddress": "rep@org.example"},
        )  # fmt: skip

    email(lead_id, incoming=True, status="0", hours=0)
    email(lead_id, incoming=False, status="5", hours=1)
    email(other_lead, incoming=False, status="3", hours=1)
    first = email(lead_id, incoming=False, status="3", hours=2)
    email(lead_id, incoming=False, status="3", hours=3)

    found = org.port.earliest_outgoing_email(lead_id)
    assert found is not None
    assert (found.Id, found.RelatedToId, found.Incoming) == (first, lead_id, False)
    assert found.MessageDate == base + timedelta(hours=2)
    assert org.port.get_email_message(first).RelatedToId == lead_id


def test_account_owner_by_domain(org: Backend) -> None:
    """A Website host equal to the domain (or www.) matches; look-alikes do not; owner activity shows."""
    tag = unique()
    active = new_user(org, "active")
    leaving = new_user(org, "leaving")
    org.create(
        "Account", {"Name": "Look-alike", "Website": f"https://notacme{tag}.com", "OwnerId": active}
    )
    org.create(
        "Account", {"Name": "Suffix trick", "Website": f"acme{tag}.com.evil.io", "OwnerId": active}
    )
    org.advance(1)
    match = org.create(
        "Account",
        {"Name": "Acme", "Website": f"https://www.acme{tag}.com/about", "OwnerId": active},
    )
    only_inactive = org.create(
        "Account", {"Name": "Beta", "Website": f"beta{tag}.io", "OwnerId": leaving}
    )
    org.create(
        "Account", {"Name": "Gamma old", "Website": f"http://gamma{tag}.dev", "OwnerId": leaving}
    )
    org.advance(1)
    gamma_active = org.create(
        "Account", {"Name": "Gamma new", "Website": f"gamma{tag}.dev", "OwnerId": active}
    )
    org.edit("User", leaving, {"IsActive": False})  # fmt: skip

    found = org.port.account_owner_by_domain(f"ACME{tag}.com")
    assert found is not None
    assert (found.account_id, found.owner_id, found.owner_active, found.domain) == (
        match, active, True, f"acme{tag}.com",
    )  # fmt: skip

    inactive = org.port.account_owner_by_domain(f"beta{tag}.io")
    assert inactive is not None
    assert (inactive.account_id, inactive.owner_id, inactive.owner_active) == (
        only_inactive, leaving, False,
    )  # fmt: skip

    preferred = org.port.account_owner_by_domain(f"gamma{tag}.dev")
    assert preferred is not None
    assert (preferred.account_id, preferred.owner_active) == (gamma_active, True)

    assert org.port.account_owner_by_domain(f"none{tag}.com") is None


def test_active_user_ids_keeps_the_callers_form(org: Backend) -> None:
    """Active users come back in the form they were asked for; inactive ones are dropped."""
    active = new_user(org, "on")
    inactive = new_user(org, "off")
    org.edit("User", inactive, {"IsActive": False})
    assert org.port.active_user_ids([active, active[:15], inactive]) == {active, active[:15]}
    assert org.port.active_user_ids([]) == set()


def test_send_simple_email_logs_the_email_on_the_lead(org: Backend) -> None:
    """A sent email succeeds and appears as the lead's first outgoing EmailMessage."""
    lead_id = new_lead(org, Email="grace@navy.example")
    result = org.port.send_simple_email(
        lead_id=lead_id, to_address="grace@navy.example", subject="Hello", body="Plain text."
    )
    assert result.isSuccess is True
    logged = org.port.earliest_outgoing_email(lead_id)
    assert logged is not None
    assert (logged.RelatedToId, logged.Incoming) == (lead_id, False)


def test_send_simple_email_refuses_an_opted_out_lead(org: Backend) -> None:
    """An opted-out lead gets no email: EMAIL_OPTED_OUT, permanent, and nothing logged."""
    lead_id = new_lead(org, Email="nomail@example.com", HasOptedOutOfEmail=True)
    with pytest.raises(EmailOptedOutError):
        org.port.send_simple_email(
            lead_id=lead_id, to_address="nomail@example.com", subject="Hi", body="Hello"
        )
    assert org.port.earliest_outgoing_email(lead_id) is None


def test_send_simple_email_stops_at_the_daily_limit(org: Backend) -> None:
    """Past the org's SingleEmail allowance the send fails permanently and nothing is logged."""
    sent, refused = new_lead(org, Email="one@ok.example"), new_lead(org, Email="two@ok.example")
    org.allow_emails(1)
    org.port.send_simple_email(lead_id=sent, to_address="one@ok.example", subject="s", body="b")
    with pytest.raises(SingleEmailLimitError):
        org.port.send_simple_email(
            lead_id=refused, to_address="two@ok.example", subject="s", body="b"
        )
    assert org.port.limits().remaining("SingleEmail") == 0
    assert org.port.earliest_outgoing_email(refused) is None


def test_update_records_answers_in_input_order(org: Backend) -> None:
    """Each record gets its own SaveResult in input order; one failure does not stop the rest."""
    first = new_lead(org)
    second = new_lead(org)
    results = org.port.update_records(
        [
            {"Id": first, "Title": "one"},
            {"Id": MISSING_LEAD, "Title": "ghost"},
            {"Id": second, "Title": "two"},
        ]
    )
    assert [(r.id, r.success) for r in results] == [
        (first, True), (MISSING_LEAD, False), (second, True),
    ]  # fmt: skip
    assert results[1].errors[0].statusCode == "NOT_FOUND"
    assert (org.port.get_lead(first).Title, org.port.get_lead(second).Title) == ("one", "two")


def test_unanswered_leads_in_a_window_oldest_first(org: Backend) -> None:
    """Leads created in [after, before) with no first response, oldest first, up to the limit."""
    org.advance(2)
    start = org.now()

    def lead_after(seconds: float, **fields: object) -> str:
        org.advance(seconds)
        return new_lead(org, **fields)

    oldest = lead_after(2, NumberOfEmployees=5000, Country="US")
    lead_after(10, First_Response_At__c=datetime(2024, 5, 1, tzinfo=UTC))
    middle = lead_after(10)
    newest = lead_after(10)
    after_window = lead_after(10)
    window_end = org.now() - timedelta(seconds=5)

    found = org.port.unanswered_leads(created_after=start, created_before=window_end, limit=10)
    assert [lead.Id for lead in found] == [oldest, middle, newest]
    assert after_window not in {lead.Id for lead in found}
    first = found[0]
    assert (first.NumberOfEmployees, first.Country, first.First_Response_At__c) == (
        5000,
        "US",
        None,
    )
    assert first.CreatedDate is not None and first.CreatedDate >= start.replace(microsecond=0)

    capped = org.port.unanswered_leads(created_after=start, created_before=window_end, limit=2)
    assert [lead.Id for lead in capped] == [oldest, middle]


def test_limits_and_api_usage(org: Backend) -> None:
    """The org reports its daily API and single-email allowances; usage is tracked per call."""
    limits = org.port.limits()
    for name in ("DailyApiRequests", "SingleEmail"):
        limit = limits.limits[name]
        assert 0 <= limit.Remaining <= limit.Max
    assert limits.remaining("NoSuchLimit") is None
    usage = org.port.api_usage
    assert usage is not None
    assert 0 < usage.used <= usage.max


@pytest.mark.parametrize(
    "call",
    [
        lambda port: port.get_lead("00Q' OR Id != '"),
        lambda port: port.earliest_completed_task("00Q5g00000AbCdE' OR Name != '"),
        lambda port: port.earliest_outgoing_email("' OR Incoming = true OR Id = '"),
        lambda port: port.account_owner_by_domain("acme.com' OR Name != '"),
        lambda port: port.account_owner_by_domain("%"),
        lambda port: port.active_user_ids(["005' OR IsActive = false OR Id = '"]),
        lambda port: port.update_lead(to_18("005000000000001"), {"Title": "x"}),
        lambda port: port.update_lead(MISSING_LEAD, {"Title, OwnerId": "x"}),
        lambda port: port.send_simple_email(
            lead_id=MISSING_LEAD, to_address="a@b.com,c@d.com", subject="s", body="b"
        ),
    ],
    ids=[
        "lead-id",
        "task-lead-id",
        "email-lead-id",
        "domain-quote",
        "domain-wildcard",
        "user-ids",
        "wrong-kind-of-id",
        "field-name",
        "extra-recipient",
    ],
)
def test_hostile_input_is_refused_before_anything_happens(
    org: Backend, call: Callable[[SalesforcePort], Any]
) -> None:
    """Injection attempts in ids, domains, field names and addresses fail as invalid input."""
    with pytest.raises(InvalidInputError):
        call(org.port)
