"""lead.route on fakes: who gets the lead, the LLM within its budget, 412s, and routed once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

import pytest

from shared.errors import RetryableError
from shared.llm.port import LlmUnavailableError
from shared.routing import PoolState, pick_pool_member
from shared.salesforce import FakeSalesforce, TransportError
from tests.unit.workers_fakes import (
    POLICY,
    START,
    FakeLlm,
    fake_redis,
    lead_created,
    make_deps,
)
from workers.idempotency import ClaimBusyError
from workers.route import email_domain, route_lead

US_SMB = {"LastName": "Lovelace", "Company": "Acme", "Country": "US", "NumberOfEmployees": 50}
UK_MM = {
    "LastName": "Brown",
    "Company": "Beta",
    "Country": "United Kingdom",
    "NumberOfEmployees": 500,
}


@pytest.fixture
def sf() -> FakeSalesforce:
    return FakeSalesforce(start=START)


def owner_writes(sf: FakeSalesforce, lead_id: str) -> list[Mapping[str, object]]:
    return [u.fields for u in sf.updates if u.record_id == lead_id and "OwnerId" in u.fields]


def test_rules_owner_is_written_with_reason_confidence_and_the_event_time(
    sf: FakeSalesforce,
) -> None:
    """A clear lead goes to the policy's owner, guarded by the event's commit time."""
    lead = sf.create("Lead", {**UK_MM, "Email": "b@beta-corp.com"})
    deps = make_deps(sf)

    outcome = route_lead(deps, lead_created(sf, lead))

    assert outcome.outcome == "routed"
    assert outcome.owner == POLICY.owners["MM_EMEA"]
    [update] = [u for u in sf.updates if u.record_id == lead]
    assert update.if_unmodified_since == START
    assert update.fields["OwnerId"] == POLICY.owners["MM_EMEA"]
    assert str(update.fields["Routing_Reason__c"]).startswith("MM: 500 employees")
    assert len(str(update.fields["Routing_Reason__c"])) <= 255
    assert update.fields["Routing_Confidence__c"] == 0.95
    assert update.fields["Owner_Assigned_At__c"] == START
    assert deps.llm.prompts == []  # type: ignore[attr-defined]


def test_active_account_owner_wins_before_the_pool(sf: FakeSalesforce) -> None:
    """A lead whose email domain matches an Account goes to that Account's active owner."""
    rep = sf.create("User", {"LastName": "Rep", "IsActive": True})
    sf.create("Account", {"Name": "Acme", "Website": "https://www.acme.com", "OwnerId": rep})
    lead = sf.create("Lead", {**US_SMB, "Email": "ada@acme.com"})

    outcome = route_lead(make_deps(sf), lead_created(sf, lead))

    assert outcome.owner == rep
    assert outcome.decision is not None and "owner of account" in outcome.decision.reason


def test_inactive_account_owner_is_ignored(sf: FakeSalesforce) -> None:
    """An Account owned by an inactive user does not take the lead; the pool does."""
    gone = sf.create("User", {"LastName": "Gone", "IsActive": False})
    sf.create("Account", {"Name": "Acme", "Website": "acme.com", "OwnerId": gone})
    lead = sf.create("Lead", {**US_SMB, "Email": "ada@acme.com"})

    outcome = route_lead(make_deps(sf), lead_created(sf, lead))

    pool = {m.id for m in POLICY.pools["SMB_NA"].members}
    assert outcome.owner in pool
    assert outcome.decision is not None and "inactive" in outcome.decision.reason


def test_free_mail_never_matches_an_account(sf: FakeSalesforce) -> None:
    """A gmail.com address says nothing about the company: no account lookup at all."""
    rep = sf.create("User", {"LastName": "Rep", "IsActive": True})
    sf.create("Account", {"Name": "Google", "Website": "https://gmail.com", "OwnerId": rep})
    lead = sf.create("Lead", {**US_SMB, "Email": "ada@gmail.com"})

    outcome = route_lead(make_deps(sf), lead_created(sf, lead))

    assert outcome.owner != rep
    assert "account_owner_by_domain" not in [c.op for c in sf.calls]


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("Ada@Acme.COM", "acme.com"),
        ("ada@gmail.com", None),
        ("ada@outlook.com", None),
        ("not-an-address", None),
        ("a@b@c.com", None),
        (None, None),
    ],
    ids=["company", "gmail", "outlook", "no-at", "two-at", "missing"],
)
def test_email_domain(email: str | None, domain: str | None) -> None:
    """Only a well-formed company address yields a domain to match."""
    assert email_domain(email) == domain


def test_pool_picks_are_fair_and_atomic_under_concurrency(sf: FakeSalesforce) -> None:
    """Many threads routing pool leads at once give each rep exactly its round-robin share."""
    r = fake_redis()
    leads = [sf.create("Lead", {**US_SMB, "LastName": f"L{i}"}) for i in range(60)]
    messages = [lead_created(sf, lead, i) for i, lead in enumerate(leads)]
    deps = make_deps(sf, redis_client=r)
    owners: list[str | None] = []
    lock = threading.Lock()

    def work(chunk: list[int]) -> None:
        for i in chunk:
            outcome = route_lead(deps, messages[i])
            with lock:
                owners.append(outcome.owner)

    threads = [threading.Thread(target=work, args=(list(range(k, 60, 6)),)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    expected = PoolState()
    for _ in range(60):
        picked = pick_pool_member(POLICY.pools["SMB_NA"], expected)
        assert picked is not None
        expected = expected.with_pick(picked)
    assert Counter(owners) == Counter(expected.assigned_total)
    assert deps.pools.state("SMB_NA", START).assigned_total == expected.assigned_total


def test_llm_verdict_is_used_when_rules_are_unsure(sf: FakeSalesforce) -> None:
    """A lead without a country is placed by the LLM's verdict, and the exchange is recorded."""
    lead = sf.create("Lead", {"LastName": "X", "Company": "Y", "NumberOfEmployees": 500})
    llm = FakeLlm()
    deps = make_deps(sf, llm=llm)

    outcome = route_lead(deps, lead_created(sf, lead))

    assert outcome.decision is not None
    assert (outcome.decision.source, outcome.decision.region) == ("llm", "NA")
    assert llm.prompts == [("route", lead)]
    [record] = deps.flywheel.for_workload("lead.route")  # type: ignore[attr-defined]
    assert record["llm_exchange"]["provider"] == "fake"


def test_llm_down_means_rules_decide_marked_degraded(sf: FakeSalesforce) -> None:
    """When the LLM fails, the lead is still routed, and the decision says degraded."""
    lead = sf.create("Lead", {"LastName": "X", "Company": "Y", "NumberOfEmployees": 500})
    llm = FakeLlm(fail=LlmUnavailableError("529 overloaded"))

    outcome = route_lead(make_deps(sf, llm=llm), lead_created(sf, lead))

    assert outcome.outcome == "routed"
    assert outcome.decision is not None and outcome.decision.source == "degraded"
    assert outcome.owner == POLICY.queues.default


def test_slow_llm_is_not_waited_for_past_the_budget(sf: FakeSalesforce) -> None:
    """Routing returns a degraded decision while the slow LLM is still thinking."""
    lead = sf.create("Lead", {"LastName": "X", "Company": "Y", "NumberOfEmployees": 500})
    llm = FakeLlm(delay_seconds=1.0)
    deps = make_deps(sf, llm=llm, routing_budget_seconds=0.1)

    outcome = route_lead(deps, lead_created(sf, lead))

    assert outcome.decision is not None and outcome.decision.source == "degraded"
    assert not llm.finished.is_set()
    assert owner_writes(sf, lead)


def test_always_ask_consults_the_llm_on_clear_leads(sf: FakeSalesforce) -> None:
    """With always_ask, the LLM is asked even when the rules are sure."""
    lead = sf.create("Lead", UK_MM)
    llm = FakeLlm()

    route_lead(make_deps(sf, llm=llm, llm_always_ask=True), lead_created(sf, lead))

    assert llm.prompts == [("route", lead)]


def test_an_owner_set_by_a_person_after_the_event_is_kept(sf: FakeSalesforce) -> None:
    """412 after a person chose an owner: their owner stands, leadfleet writes no owner."""
    person_pick = sf.create("User", {"LastName": "Person", "IsActive": True})
    lead = sf.create("Lead", UK_MM)
    message = lead_created(sf, lead)
    sf.advance(5)
    sf.touch("Lead", lead, {"OwnerId": person_pick})

    outcome = route_lead(make_deps(sf), message)

    assert (outcome.outcome, outcome.owner) == ("owner_kept", person_pick)
    assert owner_writes(sf, lead) == []


def test_a_412_for_another_edit_redecides_on_the_fresh_lead(sf: FakeSalesforce) -> None:
    """412 after a person fixed the country: the lead is routed by the corrected record."""
    lead = sf.create("Lead", UK_MM)
    message = lead_created(sf, lead)
    sf.advance(5)
    sf.touch("Lead", lead, {"Country": "Japan"})

    outcome = route_lead(make_deps(sf), message)

    assert (outcome.outcome, outcome.owner) == ("routed", POLICY.owners["MM_APAC"])
    [write] = [u for u in sf.updates if "OwnerId" in u.fields]
    assert write.if_unmodified_since is not None and write.if_unmodified_since > START


def test_a_lead_is_routed_once_however_often_its_message_comes(sf: FakeSalesforce) -> None:
    """A redelivered message finds the lead routed and writes nothing."""
    lead = sf.create("Lead", UK_MM)
    deps = make_deps(sf)
    message = lead_created(sf, lead)

    first = route_lead(deps, message)
    again = route_lead(deps, message)

    assert (first.outcome, again.outcome) == ("routed", "duplicate")
    assert again.owner == first.owner
    assert len(owner_writes(sf, lead)) == 1


class LostAnswerSalesforce(FakeSalesforce):
    """Applies the next owner write, then fails as if the answer never arrived."""

    lose_next = True

    def update_lead(
        self,
        lead_id: str,
        fields: Mapping[str, object],
        *,
        if_unmodified_since: datetime | None = None,
    ) -> None:
        super().update_lead(lead_id, fields, if_unmodified_since=if_unmodified_since)
        if self.lose_next and "OwnerId" in fields:
            self.lose_next = False
            raise TransportError("read timed out", resource="Lead")


def test_a_retry_after_a_lost_answer_does_not_route_twice() -> None:
    """The write landed but its answer was lost: the retry sees 412 and keeps that owner."""
    sf = LostAnswerSalesforce(start=START)
    lead = sf.create("Lead", {**US_SMB})
    deps = make_deps(sf)
    message = lead_created(sf, lead)
    sf.advance(2)

    with pytest.raises(TransportError):
        route_lead(deps, message)
    retry = route_lead(deps, message)

    assert retry.outcome == "owner_kept"
    assert len(owner_writes(sf, lead)) == 1
    assert route_lead(deps, message).outcome == "duplicate"


def test_a_claim_held_by_a_live_run_makes_the_retry_wait(sf: FakeSalesforce) -> None:
    """While another run holds the lead, this run neither writes nor gives up: it waits."""
    lead = sf.create("Lead", UK_MM)
    deps = make_deps(sf)
    assert deps.route_claims.claim(lead, "other-run").state == "acquired"

    with pytest.raises(ClaimBusyError) as caught:
        route_lead(deps, lead_created(sf, lead))

    assert 0 < caught.value.retry_after <= 60
    assert owner_writes(sf, lead) == []


def test_a_failed_run_releases_its_claim_so_the_retry_routes(sf: FakeSalesforce) -> None:
    """A retryable failure before the write gives the lead back for the next attempt."""
    lead = sf.create("Lead", UK_MM)
    sf.fail_next("update_lead", TransportError("connection reset", resource="Lead"))
    deps = make_deps(sf)

    with pytest.raises(RetryableError):
        route_lead(deps, lead_created(sf, lead))
    outcome = route_lead(deps, lead_created(sf, lead))

    assert outcome.outcome == "routed"
    assert len(owner_writes(sf, lead)) == 1
