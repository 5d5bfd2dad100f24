"""The offline provider: what messy leads still say about size and place, with no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.llm.hints import read_employee_count
from shared.llm.offline import MODEL, OfflineProvider, offline_region, offline_segment
from shared.llm.prompts import ROUTING_TOOL, TEMPLATE_TOOL
from shared.models import Lead
from shared.policy import load_policy
from shared.routing import decide_route, rules_are_unsure
from shared.templates import load_templates

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "config" / "routing_policy.json")
ALT = load_policy(ROOT / "tests" / "fixtures" / "policies" / "small_mid_large.json")
CATALOG = load_templates(ROOT / "config" / "templates.json")
OFFLINE = OfflineProvider()


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("50-100", 50, 100),
        ("50 – 100", 50, 100),
        ("between fifty and one hundred", 50, 100),
        ("about 3k", 3000, 3000),
        ("~250", 250, 250),
        ("10k+", 10000, None),
        ("5,000+", 5000, None),
        ("over 500", 500, None),
        ("under 50", 1, 49),
        ("two hundred", 200, 200),
        ("twelve hundred", 1200, 1200),
        ("a few hundred", 300, 300),
        ("1.5k", 1500, 1500),
        ("5-10k", 5000, 10000),
        ("501-1,000", 501, 1000),
        ("10 000", 10000, 10000),
        ("approx. 1 million", 1000000, 1000000),
        ("self-employed", 1, 1),
        ("1 to 10 employees", 1, 10),
    ],
    ids=[
        "range",
        "range-en-dash",
        "range-in-words",
        "k-suffix",
        "tilde",
        "k-plus",
        "grouped-plus",
        "over",
        "under",
        "words",
        "hundreds-in-words",
        "a-few-hundred",
        "decimal-k",
        "k-range",
        "grouped-range",
        "space-grouped",
        "million",
        "self-employed",
        "range-with-noun",
    ],
)
def test_employee_counts_as_people_write_them(text: str, lo: int, hi: int | None) -> None:
    """Counts the rules reject are read as an inclusive range."""
    hint = read_employee_count(text)
    assert hint is not None
    assert (hint.lo, hint.hi) == (lo, hi)


@pytest.mark.parametrize(
    "text",
    ["unknown", "n/a", "Large", "", "   ", "-"],
    ids=["unknown", "n-a", "word", "empty", "blank", "dash"],
)
def test_text_without_a_count_reads_as_nothing(text: str) -> None:
    """No number means no hint, never a made-up count."""
    assert read_employee_count(text) is None


@pytest.mark.parametrize(
    ("fields", "segment", "confidence"),
    [
        ({"NumberOfEmployees": 450}, "MM", 0.95),
        ({"NumberOfEmployees": "about 3k"}, "Enterprise", 0.8),
        ({"NumberOfEmployees": "50-100"}, "SMB", 0.8),
        ({"NumberOfEmployees": "150-300"}, "MM", 0.55),
        ({"NumberOfEmployees": "10k+"}, "Enterprise", 0.8),
        ({"NumberOfEmployees": "over 500"}, "MM", 0.55),
        ({"Description": "We are a team of 300 people in Lyon."}, "MM", 0.65),
        ({"Description": "Around 5,000 employees worldwide."}, "Enterprise", 0.65),
        ({"NumberOfEmployees": "lots"}, None, 0.0),
        ({}, None, 0.0),
    ],
    ids=[
        "clean-count",
        "approximate",
        "range-in-one-segment",
        "range-across-segments",
        "open-ended-top",
        "open-ended-middle",
        "in-description",
        "grouped-in-description",
        "no-number",
        "missing",
    ],
)
def test_segment_table(fields: dict[str, Any], segment: str | None, confidence: float) -> None:
    """Rules' count first, then the field read loosely, then the description; less sure each step."""
    found, sure, _reason = offline_segment(Lead.model_validate(fields), POLICY)
    assert (found, sure) == (segment, confidence)


@pytest.mark.parametrize(
    ("fields", "region"),
    [
        ({"Country": "Germany"}, "EMEA"),
        ({"Country": "Berlin, Germany"}, "EMEA"),
        ({"Country": "Germnay"}, "EMEA"),
        ({"Country": "Untied States"}, "NA"),
        ({"Country": "Munich"}, "EMEA"),
        ({"Country": "São Paulo"}, "LATAM"),
        ({"State": "California"}, "NA"),
        ({"State": "NSW"}, "APAC"),
        ({"State": "WA"}, None),
        ({"Phone": "+49 30 1234567"}, "EMEA"),
        ({"Phone": "0044 20 7946 0000"}, "EMEA"),
        ({"Phone": "+1 876 555 1234"}, "LATAM"),
        ({"Phone": "(415) 555-0100"}, None),
        ({"Email": "jo@firma.de"}, "EMEA"),
        ({"Email": "jo@shop.co.uk"}, "EMEA"),
        ({"Website": "https://www.loja.com.br/contato"}, "LATAM"),
        ({"Email": "jo@startup.io"}, None),
        ({"Email": "jo@gmail.com"}, None),
        ({"Country": "Atlantis"}, None),
        ({"Country": "Iran"}, None),
        ({"Country": "Atlantis", "Email": "jo@firma.jp"}, "APAC"),
    ],
    ids=[
        "clean-country",
        "city-and-country",
        "misspelt",
        "misspelt-two-words",
        "city",
        "city-with-accent",
        "us-state",
        "australian-state-code",
        "state-code-two-regions",
        "phone-prefix",
        "phone-00-prefix",
        "nanp-caribbean",
        "phone-without-prefix",
        "email-cctld",
        "email-co-uk",
        "website-com-br",
        "vanity-cctld",
        "generic-domain",
        "unknown-country",
        "country-in-no-region",
        "email-after-unknown-country",
    ],
)
def test_region_table(fields: dict[str, Any], region: str | None) -> None:
    """A region only when every country a hint could mean lies in that one region."""
    found, _confidence, _reason = offline_region(Lead.model_validate(fields), POLICY)
    assert found == region


def test_unreadable_country_reaches_the_regions_owner_through_the_verdict() -> None:
    """Rules send 'Germnay' to the default queue; with the offline verdict it reaches MM_EMEA."""
    lead = Lead(Id="00Q000000000001AAA", Country="Germnay", NumberOfEmployees="about 450")
    assert rules_are_unsure(lead, POLICY)
    verdict = OFFLINE.route(lead, POLICY, timeout=1.0).verdict
    decision = decide_route(lead, POLICY, llm=verdict)
    assert (decision.segment, decision.region, decision.source) == ("MM", "EMEA", "llm")
    assert decision.owner == POLICY.owners["MM_EMEA"]


def test_rules_view_is_kept_when_rules_are_sure() -> None:
    """A lead the rules place is placed the same way, at the rules' confidence."""
    lead = Lead(Country="Japan", NumberOfEmployees=5000)
    verdict = OFFLINE.route(lead, POLICY, timeout=1.0).verdict
    assert (verdict.segment, verdict.region, verdict.confidence) == ("Enterprise", "APAC", 0.95)


def test_names_follow_the_policy() -> None:
    """With another policy the verdict uses that policy's names."""
    lead = Lead(Country="Deutschlnd", NumberOfEmployees="about 3k")
    verdict = OFFLINE.route(lead, ALT, timeout=1.0).verdict
    assert (verdict.segment, verdict.region) == ("Large", "Europe")


def test_same_lead_same_answer() -> None:
    """Deterministic: the same lead gets the same verdict and the same recorded ids."""
    lead = Lead(Country="Munich", NumberOfEmployees="50-100", Description="pricing please")
    first, second = (OFFLINE.route(lead, POLICY, timeout=1.0) for _ in range(2))
    assert first.verdict == second.verdict
    assert first.exchange.response["id"] == second.exchange.response["id"]


@pytest.mark.parametrize(
    ("description", "template_id"),
    [
        ("Could you send a quote for 40 seats?", "pricing-quote"),
        ("I'd like to book a demo next week", "demo-tailored"),
        ("Does it have an API and SAML SSO?", "technical-integration"),
        ("We are an agency and want to resell", "partnership-programme"),
        ("Can we start a free trial?", "trial-first-week"),
        ("How do you compare to LeanData?", "comparison-evaluation"),
        ("Hello", "general-introduction"),
    ],
    ids=["pricing", "demo", "technical", "partnership", "trial", "comparison", "nothing-matched"],
)
def test_template_table(description: str, template_id: str) -> None:
    """The keyword intent picks the catalogue's template for that intent."""
    answer = OFFLINE.choose_template(Lead(Description=description), CATALOG, timeout=1.0)
    assert answer.template_id == template_id
    assert answer.variable_suggestions == {}


def test_exchange_is_recorded_in_the_same_openai_form() -> None:
    """Offline answers are recorded like model answers, under the offline model's name."""
    lead = Lead(Country="Munich", NumberOfEmployees="50-100", Description="pricing please")
    routed = OFFLINE.route(lead, POLICY, timeout=1.0)
    chosen = OFFLINE.choose_template(lead, CATALOG, timeout=1.0)
    for answer, tool in ((routed, ROUTING_TOOL), (chosen, TEMPLATE_TOOL)):
        exchange = answer.exchange
        assert (exchange.provider, exchange.model) == ("offline", MODEL)
        assert MODEL.startswith("offline-heuristics-")
        assert [m["role"] for m in exchange.request["messages"]] == ["system", "user"]
        call = exchange.response["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["name"] == tool
        assert json.loads(call["function"]["arguments"])
    arguments = json.loads(
        routed.exchange.response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    )
    assert (arguments["segment"], arguments["region"]) == (routed.verdict.segment, "EMEA")


# Any text, lone surrogates included (JSON can carry them), and text made mostly of number parts.
TEXT = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=()), max_size=300),
    st.text(alphabet="0123456789,.k+-~ ", max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(
    country=TEXT,
    state=TEXT,
    phone=TEXT,
    email=TEXT,
    website=TEXT,
    employees=st.one_of(TEXT, st.integers(), st.floats()),
    description=TEXT,
)
def test_any_lead_gets_a_verdict_within_the_policy(
    country: str | None,
    state: str | None,
    phone: str | None,
    email: str | None,
    website: str | None,
    employees: object,
    description: str | None,
) -> None:
    """Whatever the fields hold, the offline provider answers within the enums and never raises."""
    lead = Lead.model_validate(
        {
            "Country": country,
            "State": state,
            "Phone": phone,
            "Email": email,
            "Website": website,
            "NumberOfEmployees": employees,
            "Description": description,
        }
    )
    answer = OFFLINE.route(lead, POLICY, timeout=1.0)
    assert answer.verdict.segment in (*POLICY.segments, None)
    assert answer.verdict.region in (*POLICY.regions, None)
    assert OFFLINE.choose_template(lead, CATALOG, timeout=1.0).template_id
    assert json.dumps(answer.exchange.request, ensure_ascii=False).encode("utf-8")
