"""The demo's traffic generator: a deterministic plan that exercises every routing and response
path, replayed against an org as people would act (no leadfleet header, reps answer)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import BaseAdapter

from shared.intent import INTENTS as PRODUCT_INTENTS
from shared.intent import detect_intent
from shared.models import Lead
from simulator.traffic import People, Person, Traffic, discover_people
from simulator.traffic_data import FREE_MAIL_DOMAINS, INTENTS, SEGMENTS
from simulator.traffic_org import OrgConnection, RestOrg, TrafficError
from simulator.traffic_plan import RESPONSE_KINDS, TrafficPlan, build_plan

ACCOUNT_DOMAINS = ("acmecloud.com", "bluepeak.io", "cedarhealth.com", "deltaforge.de")


@pytest.fixture(scope="module")
def plan() -> TrafficPlan:
    """The default demo: 200 leads over 2.5 minutes."""
    return build_plan(seed=7, leads=200, minutes=2.5, account_domains=ACCOUNT_DOMAINS)


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    """Runs are reproducible: --seed fixes every lead and every response."""
    first = build_plan(3, 50, 1.0, ACCOUNT_DOMAINS)
    assert first == build_plan(3, 50, 1.0, ACCOUNT_DOMAINS)
    assert first.leads != build_plan(4, 50, 1.0, ACCOUNT_DOMAINS).leads


@pytest.mark.parametrize("segment", SEGMENTS, ids=SEGMENTS)
def test_every_segment_is_planned(plan: TrafficPlan, segment: str) -> None:
    """Small, mid-market, enterprise and unknown-size leads all arrive."""
    assert any(lead.segment == segment for lead in plan.leads)


def test_employee_counts_sit_at_and_around_the_segment_boundaries(plan: TrafficPlan) -> None:
    """Counts of 199/200/201 and 1999/2000/2001 test the policy's edges; text counts test
    parsing: numeric strings in the field, "1,200" written in the description instead."""
    counts = {lead.fields.get("NumberOfEmployees") for lead in plan.leads}
    assert {199, 200, 201, 1999, 2000, 2001} <= counts
    assert any(isinstance(count, str) for count in counts)
    written = [lead for lead in plan.leads if "1,200" in lead.fields["Description"]]
    assert written
    assert all("NumberOfEmployees" not in lead.fields for lead in written)


@pytest.mark.parametrize("intent", INTENTS, ids=INTENTS)
def test_every_intent_is_planned_and_its_description_says_so(
    plan: TrafficPlan, intent: str
) -> None:
    """Each intent appears, and the offline intent rules read the description as that intent."""
    leads = [lead for lead in plan.leads if lead.intent == intent]
    assert leads
    for lead in leads:
        assert detect_intent(Lead(Description=lead.fields["Description"])).intent == intent


def test_countries_arrive_messy_blank_and_nonsensical(plan: TrafficPlan) -> None:
    """Country text is what forms deliver: aliases, local names, blanks and junk."""
    countries = {lead.fields.get("Country") for lead in plan.leads}
    assert {"UK", "U.S.A.", "Deutschland", "Holland", "brasil", "Republic of Korea"} <= countries
    assert None in countries
    assert "" in countries
    assert Counter(lead.country_style for lead in plan.leads).keys() == {
        "clean",
        "messy",
        "blank",
        "nonsense",
    }


def test_emails_use_company_free_mail_and_existing_account_domains(plan: TrafficPlan) -> None:
    """Account-domain emails let account-owner routing show; free-mail ones must not match."""
    by_kind: dict[str, set[str]] = {}
    for lead in plan.leads:
        by_kind.setdefault(lead.email_kind, set()).add(lead.fields["Email"].split("@")[1])
    assert by_kind.keys() == {"company", "account", "free_mail"}
    assert by_kind["account"] <= set(ACCOUNT_DOMAINS)
    assert by_kind["free_mail"] <= set(FREE_MAIL_DOMAINS)


def test_without_account_domains_no_lead_claims_one() -> None:
    """An org without Accounts gets company-domain emails instead."""
    plan = build_plan(7, 40, 1.0, account_domains=())
    assert all(lead.email_kind != "account" for lead in plan.leads)


def test_a_few_leads_have_opted_out_of_email(plan: TrafficPlan) -> None:
    """Some leads must never be emailed; most can be."""
    opted_out = [lead for lead in plan.leads if lead.fields.get("HasOptedOutOfEmail") is True]
    assert 1 <= len(opted_out) <= len(plan.leads) // 10
    assert all(lead.opted_out for lead in opted_out)


@pytest.mark.parametrize("leads", [20, 200], ids=["quick-run", "default-run"])
def test_responses_mix_calls_emails_incoming_only_and_silence(leads: int) -> None:
    """Most leads are answered by a call or an outgoing email; some only write back; some never
    hear from anyone — also in the quick run."""
    plan = build_plan(7, leads, 0.5, ACCOUNT_DOMAINS)
    kinds = Counter(lead.response.kind for lead in plan.leads)
    assert set(kinds) == set(RESPONSE_KINDS)
    assert kinds["call"] + kinds["outgoing_email"] > leads / 2


def test_the_plan_fits_its_duration_and_responses_follow_their_lead(plan: TrafficPlan) -> None:
    """Leads arrive over the first part of the run, every response lands before the end and
    after its own lead, and the action list is in time order."""
    actions = plan.actions()
    assert [at for at, _, _ in actions] == sorted(at for at, _, _ in actions)
    assert max(at for at, _, _ in actions) <= plan.duration_seconds
    for lead in plan.leads:
        if lead.response.kind != "none":
            assert lead.response.after_seconds > 0
    created = {lead.index: at for at, kind, lead in actions if kind == "create"}
    assert all(at >= created[lead.index] for at, kind, lead in actions if kind == "respond")
    assert len(created) == 200


def test_leads_carry_only_values_the_org_accepts(plan: TrafficPlan) -> None:
    """No None is sent (the API would null the field); required fields are always there."""
    for lead in plan.leads:
        assert None not in lead.fields.values()
        assert lead.fields["LastName"]
        assert lead.fields["Company"]
        assert "@" in lead.fields["Email"]


# -- the run, against a fake org ------------------------------------------------------------


class FakeOrg:
    """An org in memory that records what was created and by whom."""

    def __init__(self, users: list[dict[str, Any]], owner_of_new_leads: str = "00GQUEUE") -> None:
        self.users = users
        self.owner_of_new_leads = owner_of_new_leads
        self.records: dict[str, dict[str, Any]] = {}
        self.created: list[tuple[str, dict[str, Any], str]] = []

    def query(self, soql: str, *, as_user: str) -> list[dict[str, Any]]:
        if "FROM User" in soql:
            return self.users
        return [{"Website": f"https://www.{domain}"} for domain in ACCOUNT_DOMAINS]

    def create(self, sobject: str, fields: dict[str, Any], *, as_user: str) -> str:
        record_id = f"{sobject[:3]}{len(self.created):015d}"
        record = dict(fields)
        if sobject == "Lead":
            record.setdefault("OwnerId", self.owner_of_new_leads)
        self.records[record_id] = record
        self.created.append((sobject, dict(fields), as_user))
        return record_id

    def get(self, sobject: str, record_id: str, fields: Any, *, as_user: str) -> dict[str, Any]:
        return {name: self.records[record_id].get(name) for name in fields}

    def of(self, sobject: str) -> list[tuple[dict[str, Any], str]]:
        return [(fields, user) for kind, fields, user in self.created if kind == sobject]


USERS = [
    {"Id": "005INTEGRATION", "Username": "integration@org.example", "Email": "i@org.example"},
    {"Id": "005MARKETING", "Username": "ada@org.example", "Email": "ada@org.example"},
    {"Id": "005REPBEN", "Username": "ben@org.example", "Email": "ben@org.example"},
    {"Id": "005REPCLO", "Username": "chloe@org.example", "Email": "chloe@org.example"},
]


def run_plan(org: FakeOrg, leads: int = 30) -> Traffic:
    people = discover_people(org, "integration@org.example")
    plan = build_plan(5, leads, 0.001, ACCOUNT_DOMAINS)
    traffic = Traffic(plan, org, people, emit=lambda line: None)
    traffic.run()
    return traffic


def test_people_are_the_active_users_but_the_integration_user() -> None:
    """Leads are entered by a marketing user; the other users answer them."""
    people = discover_people(FakeOrg(USERS), "integration@org.example")
    assert people.intake.id == "005MARKETING"
    assert [rep.id for rep in people.reps] == ["005REPBEN", "005REPCLO"]


def test_a_run_creates_every_lead_and_answers_as_the_plan_says() -> None:
    """One lead per planned lead, entered by the marketing user; one activity per answered or
    writing-back lead; nothing for the silent ones."""
    org = FakeOrg(USERS)
    traffic = run_plan(org)
    kinds = Counter(lead.response.kind for lead in traffic.plan.leads)
    assert len(org.of("Lead")) == 30
    assert {user for _, user in org.of("Lead")} == {"ada@org.example"}
    tasks = org.of("Task")
    assert len(tasks) == kinds["call"]
    assert all(t["Status"] == "Completed" and t["Type"] == "Call" for t, _ in tasks)
    emails = org.of("EmailMessage")
    assert sum(1 for e, _ in emails if e["Incoming"] is False) == kinds["outgoing_email"]
    assert sum(1 for e, _ in emails if e["Incoming"] is True) == kinds["incoming_only"]
    assert traffic.report.counts["leads_created"] == 30


def test_the_owning_rep_answers_a_lead_that_a_rep_owns() -> None:
    """When routing already gave the lead to a rep, that rep logs the call or sends the email."""
    org = FakeOrg(USERS, owner_of_new_leads="005REPCLO")
    run_plan(org)
    answers = org.of("Task") + [(e, u) for e, u in org.of("EmailMessage") if not e["Incoming"]]
    assert answers
    for fields, user in answers:
        assert user == "chloe@org.example"
        assert fields.get("OwnerId", "005REPCLO") == "005REPCLO"


def test_a_rep_answers_a_lead_still_in_a_queue() -> None:
    """A lead owned by a queue is answered by one of the reps, never by the queue."""
    org = FakeOrg(USERS, owner_of_new_leads="00GQUEUE")
    run_plan(org)
    for fields, user in org.of("Task"):
        assert fields["OwnerId"] in {"005REPBEN", "005REPCLO"}
        assert user in {"ben@org.example", "chloe@org.example"}


def test_stopping_ends_the_run_between_actions() -> None:
    """A stop before the run starts creates nothing (SIGTERM from the demo runner)."""
    org = FakeOrg(USERS)
    people = People(Person("005MARKETING", "ada@org.example", "ada@org.example"),
                    (Person("005REPBEN", "ben@org.example", "ben@org.example"),))  # fmt: skip
    traffic = Traffic(build_plan(1, 10, 1.0), org, people, emit=lambda line: None)
    traffic.stop()
    report = traffic.run()
    assert org.created == []
    assert report.counts["stopped"] == 1


def test_the_generator_speaks_of_the_products_intents() -> None:
    """Every intent the product knows is one the traffic writes descriptions for."""
    assert set(INTENTS) == set(PRODUCT_INTENTS)


# -- REST: as a person, never as leadfleet ----------------------------------------------------


class FakeTransport(BaseAdapter):
    """A requests transport answering like the org's token and sObject endpoints."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.request = request
        response.headers["Content-Type"] = "application/json"
        if request.url and request.url.endswith("/services/oauth2/token"):
            body: dict[str, Any] = {"access_token": "token-for-test", "instance_url": "x"}
            response.status_code = 200
        else:
            body = {"id": "00Q000000000001AAA", "success": True, "errors": []}
            response.status_code = 201
        response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def connection(tmp_path: Path) -> tuple[OrgConnection, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    document = {
        "instance_url": "https://org.test",
        "login_url": "https://login.test",
        "ca_bundle": str(tmp_path / "ca.pem"),
        "consumer_key": "3MVG9consumer",
        "username": "integration@org.example",
        "private_key_path": str(key_path),
    }
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(document))
    return OrgConnection.from_file(path), key.public_key()


def test_calls_authenticate_as_the_acting_user_and_never_carry_leadfleets_header(
    connection: tuple[OrgConnection, rsa.RSAPublicKey],
) -> None:
    """A JWT per user (issuer the connected app, audience the login host), and no
    Sforce-Call-Options: the listener must treat these changes as a person's."""
    org_connection, public_key = connection
    transport = FakeTransport()
    session = requests.Session()
    session.mount("https://", transport)
    org = RestOrg(org_connection, http=session)
    lead_id = org.create("Lead", {"LastName": "Kim", "Company": "Kestrel"}, as_user="ada@o.example")
    assert lead_id == "00Q000000000001AAA"
    token_request, create_request = transport.sent
    assertion = dict(item.split("=", 1) for item in str(token_request.body).split("&"))["assertion"]
    claims = jwt.decode(assertion, public_key, algorithms=["RS256"], audience="https://login.test")
    assert claims["iss"] == "3MVG9consumer"
    assert claims["sub"] == "ada@o.example"
    assert create_request.url == "https://org.test/services/data/v62.0/sobjects/Lead/"
    assert create_request.headers["Authorization"] == "Bearer token-for-test"
    assert all("Sforce-Call-Options" not in sent.headers for sent in transport.sent)


def test_a_connection_file_without_the_consumer_key_is_refused(tmp_path: Path) -> None:
    """A half-written start-up line is named as such instead of failing later at login."""
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({"instance_url": "https://org.test", "username": "u"}))
    with pytest.raises(TrafficError, match="consumer_key"):
        OrgConnection.from_file(path)
