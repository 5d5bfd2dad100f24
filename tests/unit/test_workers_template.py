"""outreach.template_suggest on fakes: the suggestion, and the guards around sending it."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from shared.llm.port import LlmUnavailableError
from shared.salesforce import FakeSalesforce, TransportError
from shared.templates import TemplateCatalog
from tests.unit.workers_fakes import (
    START,
    TEMPLATES,
    FakeLlm,
    lead_created,
    make_deps,
)
from workers.idempotency import ClaimBusyError
from workers.reliability import DeadLettered, Delivery, RetryPolicy, execute
from workers.route import lead_from_snapshot
from workers.template_suggest import suggest_template

LEAD = {
    "FirstName": "Ada",
    "LastName": "Lovelace",
    "Company": "Acme",
    "Email": "ada@acme.com",
    "Country": "UK",
    "NumberOfEmployees": 500,
    "Description": "Could we see a demo?",
}


@pytest.fixture
def sf() -> FakeSalesforce:
    return FakeSalesforce(start=START)


def suggest(sf: FakeSalesforce, lead_id: str, **config: object) -> str:
    deps = make_deps(sf, **config)
    outcome = suggest_template(deps, lead_from_snapshot(lead_created(sf, lead_id)))
    return outcome.outcome if outcome.blocked is None else f"blocked:{outcome.blocked}"


def test_the_suggestion_is_written_and_nothing_is_sent_by_default(sf: FakeSalesforce) -> None:
    """Sending is off unless configured: the template is suggested on the lead only."""
    lead = sf.create("Lead", LEAD)
    llm = FakeLlm(intent="demo")
    deps = make_deps(sf, llm=llm)

    outcome = suggest_template(deps, lead_from_snapshot(lead_created(sf, lead)))

    assert (outcome.outcome, outcome.suggestion.template_id) == ("suggested", "demo-tailored")
    assert outcome.suggestion.source == "llm"
    assert sf.record("Lead", lead)["Suggested_Template__c"] == "demo-tailored"
    assert sf.emails_sent == []


def test_llm_suggestions_fill_gaps_but_never_replace_the_leads_own_words(
    sf: FakeSalesforce,
) -> None:
    """A suggested first name is ignored when the lead has one; a missing product is filled."""
    lead = sf.create("Lead", LEAD)
    llm = FakeLlm(intent="demo", suggestions={"first_name": "Bob", "product": "Analytics"})

    outcome = suggest_template(make_deps(sf, llm=llm), lead_from_snapshot(lead_created(sf, lead)))

    assert "Hi Ada," in outcome.suggestion.body
    assert "Demo of Analytics" in outcome.suggestion.subject


def test_a_down_llm_leaves_the_keyword_rules_to_choose(sf: FakeSalesforce) -> None:
    """No LLM answer: the rules pick the intent and the suggestion says degraded."""
    lead = sf.create("Lead", LEAD)
    llm = FakeLlm(fail=LlmUnavailableError("timeout"))

    outcome = suggest_template(make_deps(sf, llm=llm), lead_from_snapshot(lead_created(sf, lead)))

    assert (outcome.suggestion.intent, outcome.suggestion.source) == ("demo", "degraded")


def test_sending_sends_once_and_records_the_first_touch(sf: FakeSalesforce) -> None:
    """With sending on, one email goes out, a second run is a duplicate, and TTFR is written."""
    lead = sf.create("Lead", LEAD)
    sf.advance(120)
    deps = make_deps(sf, send_email=True)
    message = lead_created(sf, lead)

    first = suggest_template(deps, lead_from_snapshot(message))
    again = suggest_template(deps, lead_from_snapshot(message))

    assert first.outcome == "sent"
    assert (again.outcome, again.blocked) == ("blocked", "duplicate")
    assert [e.lead_id for e in sf.emails_sent] == [lead]
    assert sf.record("Lead", lead)["Time_to_First_Response__c"] == 2.0


@pytest.mark.parametrize(
    ("fields", "limit", "blocked"),
    [
        ({"HasOptedOutOfEmail": True}, 5000, "blocked:opted_out"),
        ({"EmailBouncedDate": datetime(2026, 1, 1, tzinfo=UTC)}, 5000, "blocked:bounced"),
        ({"Email": None}, 5000, "blocked:no_email"),
        ({}, 0, "blocked:no_single_email_remaining"),
    ],
    ids=["opted-out", "bounced", "no-address", "no-single-email-left"],
)
def test_sends_are_blocked_for_ineligible_leads(
    fields: dict[str, object], limit: int, blocked: str
) -> None:
    """No email to an opted-out, bounced or address-less lead, or past the org's allowance."""
    sf = FakeSalesforce(start=START, single_email_limit=limit)
    lead = sf.create("Lead", {**LEAD, **fields})

    assert suggest(sf, lead, send_email=True) == blocked
    assert sf.emails_sent == []


def test_opting_out_after_the_event_is_seen_because_the_lead_is_reread(
    sf: FakeSalesforce,
) -> None:
    """The CREATE snapshot said yes; the lead opted out since: the re-read wins."""
    lead = sf.create("Lead", LEAD)
    message = lead_created(sf, lead)
    sf.touch("Lead", lead, {"HasOptedOutOfEmail": True})

    outcome = suggest_template(make_deps(sf, send_email=True), lead_from_snapshot(message))

    assert outcome.blocked == "opted_out"
    assert sf.emails_sent == []


def stale_claim(deps_redis: object, lead: str, *, age: float) -> None:
    value = json.dumps({"state": "sending", "token": "dead-run", "at": START.timestamp() - age})
    deps_redis.set(f"lf-test:send:{lead}", value)  # type: ignore[attr-defined]


def test_a_young_unfinished_claim_makes_the_run_wait(sf: FakeSalesforce) -> None:
    """Another run may be sending right now: wait, do not send."""
    lead = sf.create("Lead", LEAD)
    deps = make_deps(sf, send_email=True, send_confirm_after_seconds=1e9)
    stale_claim(deps.redis, lead, age=0)

    with pytest.raises(ClaimBusyError):
        suggest_template(deps, lead_from_snapshot(lead_created(sf, lead)))
    assert sf.emails_sent == []


def test_an_old_claim_with_an_email_logged_is_a_duplicate(sf: FakeSalesforce) -> None:
    """The crashed run did send (Salesforce logged it): no second email."""
    lead = sf.create("Lead", LEAD)
    sf.create(
        "EmailMessage",
        {"RelatedToId": lead, "Incoming": False, "Status": "3", "MessageDate": START},
    )
    deps = make_deps(sf, send_email=True, send_confirm_after_seconds=1)
    stale_claim(deps.redis, lead, age=10**10)

    outcome = suggest_template(deps, lead_from_snapshot(lead_created(sf, lead)))

    assert outcome.blocked == "duplicate"
    assert sf.emails_sent == []


def test_an_old_claim_without_a_logged_email_is_taken_over_and_sent(sf: FakeSalesforce) -> None:
    """The crashed run died before its send reached Salesforce: this run sends, once."""
    lead = sf.create("Lead", LEAD)
    deps = make_deps(sf, send_email=True, send_confirm_after_seconds=1)
    stale_claim(deps.redis, lead, age=10**10)

    outcome = suggest_template(deps, lead_from_snapshot(lead_created(sf, lead)))

    assert outcome.outcome == "sent"
    assert len(sf.emails_sent) == 1


def test_strict_mode_never_sends_after_an_unfinished_claim(sf: FakeSalesforce) -> None:
    """With send_confirm_after_seconds 0, an unfinished claim blocks the lead for good."""
    lead = sf.create("Lead", LEAD)
    deps = make_deps(sf, send_email=True, send_confirm_after_seconds=0)
    stale_claim(deps.redis, lead, age=10**10)

    outcome = suggest_template(deps, lead_from_snapshot(lead_created(sf, lead)))

    assert outcome.blocked == "duplicate"
    assert sf.emails_sent == []


def test_a_send_with_an_unknown_outcome_keeps_its_claim(sf: FakeSalesforce) -> None:
    """A timed-out send may have gone out: its claim stays, so a quick retry does not resend."""
    lead = sf.create("Lead", LEAD)
    sf.fail_next("send_simple_email", TransportError("read timed out", resource="emailSimple"))
    deps = make_deps(sf, send_email=True, send_confirm_after_seconds=1e9)
    snapshot = lead_from_snapshot(lead_created(sf, lead))

    with pytest.raises(TransportError):
        suggest_template(deps, snapshot)
    with pytest.raises(ClaimBusyError):
        suggest_template(deps, snapshot)
    assert sf.emails_sent == []


def test_an_unfillable_template_goes_to_the_dead_letter_stream_with_its_reason(
    sf: FakeSalesforce,
) -> None:
    """A variable with no value and no fallback cannot be retried away: it is dead-lettered."""
    strict = TemplateCatalog(
        version="t",
        templates=tuple(t.model_copy(update={"fallbacks": {}}) for t in TEMPLATES.templates),
    )
    lead = sf.create("Lead", {"LastName": "X", "Company": "Y", "Description": "demo please"})
    deps = make_deps(sf, templates=strict)
    message = lead_created(sf, lead)
    payload = message.model_dump(mode="json")

    result = execute(
        Delivery("outreach.template_suggest", payload, 0, START, 1),
        lambda: suggest_template(deps, lead_from_snapshot(message)).outcome,
        stream=deps.dead_letters,
        policy=RetryPolicy(max_retries=3, base_seconds=1, cap_seconds=5),
        rng=random.Random(1),
        now=lambda: START,
    )

    assert isinstance(result, DeadLettered)
    [entry] = deps.dead_letters.list()
    assert "TemplateFillError" in entry.reason and "no value and no fallback" in entry.reason
    assert entry.task == "outreach.template_suggest"
    assert entry.original_payload() == payload
