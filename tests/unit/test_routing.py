"""Routing decisions: segment by size, region by country, owner from the policy, always a reason."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.models import AccountOwnerMatch, Lead
from shared.policy import Pool, PoolMember, RoutingPolicy, load_policy
from shared.routing import (
    LlmRoutingVerdict,
    PoolState,
    decide_route,
    parse_employee_count,
    policy_enums,
    rules_are_unsure,
)
from shared.salesforce.ids import to_18

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "config" / "routing_policy.json")
ALT = load_policy(ROOT / "tests" / "fixtures" / "policies" / "small_mid_large.json")
ACCOUNT_OWNER = to_18("005Ac0000000001")


def _lead(employees: object = 420, country: str | None = "Germany", **fields: Any) -> Lead:
    return Lead.model_validate(
        {"Id": "00Q000000000001", "NumberOfEmployees": employees, "Country": country, **fields}
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (250, 250),
        (250.0, 250),
        ("250", 250),
        (" 250 ", 250),
        ("250.0", 250),
        ("1,200", 1200),
        ("1 200", 1200),
        ("1\u00a0200", 1200),
        ("1_200", 1200),
        ("12,345,678", 12345678),
        ("+7", 7),
        (10**9, 10**9),
    ],
    ids=[
        "int",
        "integral-float",
        "numeric-string",
        "padded",
        "decimal-string",
        "comma-thousands",
        "space-thousands",
        "nbsp-thousands",
        "underscore",
        "millions",
        "plus-sign",
        "billion",
    ],
)
def test_employee_counts_accepted(value: object, expected: int) -> None:
    """Counts as orgs store or type them become whole numbers."""
    assert parse_employee_count(value) == (expected, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "employee count is missing"),
        ("", "employee count is empty"),
        ("   ", "employee count is empty"),
        (0, "employee count is 0"),
        ("0", "employee count is 0"),
        (-5, "employee count '-5' is negative"),
        ("-5", "employee count '-5' is negative"),
        ("fifty", "employee count 'fifty' is not a number"),
        ("10-50", "employee count '10-50' is not a number"),
        ("50+", "employee count '50+' is not a number"),
        ("1,2", "employee count '1,2' is not a number"),
        ("1e3", "employee count '1e3' is not a number"),
        (12.5, "employee count '12.5' is not a whole number"),
        ("12.5", "employee count '12.5' is not a whole number"),
        (math.nan, "employee count 'nan' is not a finite number"),
        (math.inf, "employee count 'inf' is not a finite number"),
        ("nan", "employee count 'nan' is not a number"),
        ("inf", "employee count 'inf' is not a number"),
        (True, "employee count 'True' is not a number"),
        ([50], "employee count '[50]' is not a number"),
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "zero",
        "zero-string",
        "negative",
        "negative-string",
        "words",
        "range",
        "plus-suffix",
        "european-decimal",
        "exponent",
        "fraction",
        "fraction-string",
        "nan",
        "inf",
        "nan-string",
        "inf-string",
        "bool",
        "list",
    ],
)
def test_employee_counts_rejected(value: object, problem: str) -> None:
    """Unusable counts give no number and a reason a person can act on."""
    assert parse_employee_count(value) == (None, problem)


@pytest.mark.parametrize(
    ("employees", "segment"),
    [
        (1, "SMB"),
        (200, "SMB"),
        (201, "MM"),
        (2000, "MM"),
        (2001, "Enterprise"),
        (10**9, "Enterprise"),
    ],
    ids=["1", "200", "201", "2000", "2001", "1e9"],
)
def test_segment_boundaries(employees: int, segment: str) -> None:
    """Ranges are inclusive at both ends and the last one is open."""
    decision = decide_route(_lead(employees, "Germany"), POLICY)
    assert decision.segment == segment
    assert decision.region == "EMEA"
    assert decision.owner == POLICY.owners[f"{segment}_EMEA"]
    assert decision.owner_kind == "user"


@pytest.mark.parametrize(
    ("employees", "problem"),
    [
        (0, "employee count is 0"),
        (None, "employee count is missing"),
        (-3, "employee count '-3' is negative"),
        ("fifty", "employee count 'fifty' is not a number"),
        ("", "employee count is empty"),
    ],
    ids=["zero", "missing", "negative", "non-numeric", "empty"],
)
def test_unusable_count_goes_to_default_queue(employees: object, problem: str) -> None:
    """Without a usable count the segment is null and the lead waits in the default queue."""
    decision = decide_route(_lead(employees, "Germany"), POLICY)
    assert decision.segment is None
    assert decision.region == "EMEA"
    assert decision.owner == POLICY.queues.default
    assert decision.owner_kind == "queue"
    assert problem in decision.reason
    assert "default queue" in decision.reason


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("UK", "EMEA"),
        ("U.K.", "EMEA"),
        ("england", "EMEA"),
        ("U.S.A.", "NA"),
        ("US", "NA"),
        ("united states of america", "NA"),
        ("Deutschland", "EMEA"),
        ("Holland", "EMEA"),
        ("Republic of Korea", "APAC"),
        ("IN", "APAC"),
        ("CA", "NA"),
        ("GE", "EMEA"),
        ("Brasil", "LATAM"),
        ("México", "LATAM"),
        ("UAE", "MEA"),
        ("Ivory Coast", "MEA"),
        ("Türkiye", "EMEA"),
    ],
    ids=lambda v: str(v),
)
def test_messy_countries_find_their_region(country: str, region: str) -> None:
    """However the country was typed, the region comes from the policy's list of ISO codes."""
    decision = decide_route(_lead(420, country), POLICY)
    assert decision.region == region
    assert decision.owner == POLICY.owners[f"MM_{region}"]


@pytest.mark.parametrize(
    ("country", "problem"),
    [
        ("Narnia", "country 'Narnia' is not recognised"),
        (None, "country is missing"),
        ("", "country is missing"),
        ("N/A", "country 'N/A' is not recognised"),
        ("Cuba", "country 'Cuba' = CU is in no region of the policy"),
    ],
    ids=["unknown", "missing", "empty", "placeholder", "recognised-but-unmapped"],
)
def test_unmapped_country_goes_to_default_queue(country: str | None, problem: str) -> None:
    """Without a region the lead waits in the default queue with the reason spelled out."""
    decision = decide_route(_lead(420, country), POLICY)
    assert decision.segment == "MM"
    assert decision.region is None
    assert decision.owner == POLICY.queues.default
    assert problem in decision.reason


def test_reason_reads_like_a_sentence() -> None:
    """A clean decision explains segment, region and owner in one line."""
    decision = decide_route(_lead(420, "U.K."), POLICY)
    assert (
        decision.reason
        == "MM: 420 employees in 201–2000; EMEA: country 'U.K.' = GB; owner for MM_EMEA"
    )
    assert decision.source == "rules"
    assert decision.policy_version == POLICY.version
    assert decision.lead_id == "00Q000000000001"


@pytest.mark.parametrize(
    ("country", "confidence"),
    [("GB", 0.95), ("United Kingdom", 0.95), ("UK", 0.90), ("Narnia", 0.30)],
    ids=["code", "name", "alias", "default-queue"],
)
def test_confidence_rule(country: str, confidence: float) -> None:
    """Clean matches are surest, alias matches a little less, default-queue outcomes least."""
    assert decide_route(_lead(420, country), POLICY).confidence == confidence


@pytest.mark.parametrize(
    ("country", "needs_review"),
    [("Russia", True), ("RU", True), ("Venezuela", True), ("Germany", False), ("Narnia", False)],
    ids=["russia-name", "russia-code", "venezuela", "germany", "unknown"],
)
def test_needs_review_for_validation_countries(country: str, needs_review: bool) -> None:
    """Countries the policy lists for validation are routed but flagged for a person to check."""
    decision = decide_route(_lead(420, country), POLICY)
    assert decision.needs_review is needs_review
    if needs_review:
        assert decision.confidence <= 0.6
        assert "requires validation" in decision.reason


@pytest.mark.parametrize(
    ("lead", "unsure"),
    [
        (_lead(420, "Germany"), False),
        (_lead("fifty", "Germany"), True),
        (_lead(420, "Narnia"), True),
        (_lead(420, "Russia"), True),
        (_lead(10**12, "Cuba"), True),
    ],
    ids=["clean", "bad-count", "bad-country", "validation-country", "unmapped-country"],
)
def test_rules_are_unsure(lead: Lead, unsure: bool) -> None:
    """The LLM is consulted exactly when rules leave something open or the country needs checking."""
    assert rules_are_unsure(lead, POLICY) is unsure


@pytest.mark.parametrize(
    ("match", "wins"),
    [
        (
            AccountOwnerMatch(
                account_id="001A1", owner_id=ACCOUNT_OWNER, owner_active=True, domain="acme.com"
            ),
            True,
        ),
        (
            AccountOwnerMatch(
                account_id="001A1", owner_id=ACCOUNT_OWNER, owner_active=False, domain="acme.com"
            ),
            False,
        ),
        (
            AccountOwnerMatch(
                account_id="001A1", owner_id="not-an-id", owner_active=True, domain="acme.com"
            ),
            False,
        ),
    ],
    ids=["active-owner-wins", "inactive-owner-ignored", "malformed-owner-ignored"],
)
def test_account_owner(match: AccountOwnerMatch, wins: bool) -> None:
    """An active existing Account owner takes the lead; segment and region are still reported."""
    decision = decide_route(_lead(420, "Germany"), POLICY, account_owner=match)
    assert decision.segment == "MM"
    assert decision.region == "EMEA"
    assert "account 001A1 (domain acme.com)" in decision.reason
    if wins:
        assert decision.owner == ACCOUNT_OWNER
        assert decision.owner_kind == "user"
        assert decision.source == "rules"
    else:
        assert decision.owner == POLICY.owners["MM_EMEA"]


def test_active_account_owner_wins_even_when_rules_cannot_place_the_lead() -> None:
    """A known customer's owner beats the default queue."""
    match = AccountOwnerMatch(
        account_id="001A1", owner_id=ACCOUNT_OWNER, owner_active=True, domain="acme.com"
    )
    decision = decide_route(_lead("fifty", "Narnia"), POLICY, account_owner=match)
    assert decision.owner == ACCOUNT_OWNER
    assert decision.segment is None


def _verdict(segment: str | None, region: str | None, confidence: float = 0.7) -> LlmRoutingVerdict:
    return LlmRoutingVerdict(
        segment=segment, region=region, confidence=confidence, reason="site says 40 staff"
    )


@pytest.mark.parametrize(
    ("lead", "verdict", "segment", "region", "source", "note"),
    [
        (
            _lead("fifty", "Germany"),
            _verdict("SMB", None),
            "SMB",
            "EMEA",
            "llm",
            "LLM set segment SMB",
        ),
        (_lead(420, "Narnia"), _verdict(None, "APAC"), "MM", "APAC", "llm", "LLM set region APAC"),
        (
            _lead(420, "Germany"),
            _verdict("Enterprise", "EMEA"),
            "Enterprise",
            "EMEA",
            "llm",
            "(rules said MM)",
        ),
        (
            _lead("fifty", "Germany"),
            _verdict("Mega", None),
            None,
            "EMEA",
            "rules",
            "LLM segment 'Mega' is not in the policy; ignored",
        ),
        (
            _lead(420, "Narnia"),
            _verdict(None, "Narnia"),
            "MM",
            None,
            "rules",
            "LLM region 'Narnia' is not in the policy; ignored",
        ),
        (_lead(420, "Germany"), _verdict("MM", "EMEA"), "MM", "EMEA", "rules", "owner for MM_EMEA"),
    ],
    ids=[
        "fills-segment",
        "fills-region",
        "refines-segment",
        "invented-segment",
        "invented-region",
        "agrees",
    ],
)
def test_llm_verdict(
    lead: Lead,
    verdict: LlmRoutingVerdict,
    segment: str | None,
    region: str | None,
    source: str,
    note: str,
) -> None:
    """The LLM may fill in or refine segment and region with policy names only; owners stay policy's."""
    decision = decide_route(lead, POLICY, llm=verdict)
    assert (decision.segment, decision.region, decision.source) == (segment, region, source)
    assert note in decision.reason
    assert decision.owner in POLICY.all_owner_ids()
    if segment is not None and region is not None:
        expected = POLICY.owners[f"{segment}_{region}"]
        assert decision.owner == expected
    else:
        assert decision.owner == POLICY.queues.default
    if source == "llm" and segment is not None and region is not None:
        assert decision.confidence == verdict.confidence


def test_degraded_when_llm_was_wanted_but_unavailable() -> None:
    """Rules decide and the record says the LLM was missing."""
    decision = decide_route(_lead("fifty", "Germany"), POLICY, llm_degraded=True)
    assert decision.source == "degraded"
    assert decision.owner == POLICY.queues.default
    assert "LLM unavailable" in decision.reason


def test_pool_with_nobody_available_sends_to_overflow() -> None:
    """When every pool rep is capped the lead goes to the overflow queue, saying why."""
    pool = POLICY.pools["SMB_NA"]
    capped = {m.id: m.daily_cap or 0 for m in pool.members}
    state = PoolState(assigned_today=capped)
    inactive_last = pool.model_copy(
        update={
            "members": [*pool.members[:2], pool.members[2].model_copy(update={"active": False})]
        }
    )
    policy = POLICY.model_copy(update={"pools": {"SMB_NA": inactive_last}})
    decision = decide_route(_lead(50, "USA"), policy, pool_state=state)
    assert decision.owner == POLICY.queues.overflow
    assert decision.owner_kind == "queue"
    assert "pool SMB_NA has nobody available" in decision.reason


def test_pool_pick_uses_the_given_state() -> None:
    """The rep furthest below their weighted share gets the next lead."""
    pool = POLICY.pools["SMB_NA"]
    first, second = pool.members[0].id, pool.members[1].id
    state = PoolState(assigned_total={first: 30, second: 1})
    decision = decide_route(_lead(50, "USA"), POLICY, pool_state=state)
    assert decision.owner == second
    assert "round robin in pool SMB_NA" in decision.reason


def test_high_priority_industry_is_mentioned() -> None:
    """Leads in industries the policy prioritises say so in their reason."""
    decision = decide_route(_lead(420, "Germany", Industry=" banking "), POLICY)
    assert "high-priority industry Banking" in decision.reason


@pytest.mark.parametrize(
    ("employees", "country", "segment", "region", "owner"),
    [
        (50, "Japan", "Small", "Asia", ALT.owners["Small_Asia"]),
        (51, "Japan", "Mid", "Asia", ALT.owners["Mid_Asia"]),
        (999, "usa", "Mid", "Americas", ALT.owners["Mid_Americas"]),
        (1000, "Brasil", "Large", "Americas", ALT.owners["Large_Americas"]),
        (420, "Australia", "Mid", None, ALT.queues.default),
        (0, "Japan", None, "Asia", ALT.queues.default),
        (20, "Deutschland", "Small", "Europe", ALT.owners["Small_Europe"]),
    ],
    ids=["50-small", "51-mid", "999-mid", "1000-large", "region-not-in-policy", "zero", "alias"],
)
def test_another_policy_routes_by_its_own_names(
    employees: int, country: str, segment: str | None, region: str | None, owner: str
) -> None:
    """Nothing is tied to the default policy's names or ranges."""
    decision = decide_route(_lead(employees, country), ALT)
    assert (decision.segment, decision.region, decision.owner) == (segment, region, owner)
    assert decision.policy_version == "alt-7"


def test_policy_enums_offer_only_policy_names() -> None:
    """The LLM's tool schema lists the policy's segments and regions and nothing that names an owner."""
    schema = policy_enums(ALT)
    assert schema["properties"]["segment"]["enum"] == ["Large", "Small", "Mid", None]
    assert schema["properties"]["region"]["enum"] == ["Americas", "Europe", "Asia", None]
    assert "owner" not in schema["properties"]


def test_llm_verdict_rejects_extra_fields() -> None:
    """A verdict that tries to name an owner is refused at the boundary."""
    with pytest.raises(ValueError, match="owner"):
        LlmRoutingVerdict.model_validate(
            {"segment": "SMB", "region": "NA", "confidence": 0.9, "reason": "x", "owner": "005"}
        )


_text = st.one_of(
    st.none(), st.text(max_size=30), st.sampled_from(["UK", "U.S.A.", "Narnia", "IN", "", " "])
)
_employees = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1,200", "250.0", "fifty", "10-50", "0", "-1"]),
)
_lead_dicts = st.fixed_dictionaries(
    {"NumberOfEmployees": _employees, "Country": _text},
    optional={
        "Id": _text,
        "Company": _text,
        "Industry": st.one_of(_text, st.sampled_from(["Banking", "healthcare"])),
        "Product_Interest__c": _text,
        "Description": _text,
        "Email": _text,
        "LeadSource": _text,
        "Whatever__c": st.integers(),
    },
)
_pool_states = st.builds(
    PoolState,
    assigned_total=st.dictionaries(
        st.sampled_from([m.id for m in POLICY.pools["SMB_NA"].members]), st.integers(0, 50)
    ),
    assigned_today=st.dictionaries(
        st.sampled_from([m.id for m in POLICY.pools["SMB_NA"].members]), st.integers(0, 50)
    ),
)


_names = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.sampled_from([*POLICY.segments, *POLICY.regions, *ALT.segments, *ALT.regions]),
)
_verdicts = st.one_of(
    st.none(),
    st.builds(
        LlmRoutingVerdict,
        segment=_names,
        region=_names,
        confidence=st.floats(0, 1),
        reason=st.text(max_size=200),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    fields=_lead_dicts,
    state=_pool_states,
    policy=st.sampled_from([POLICY, ALT]),
    verdict=_verdicts,
    degraded=st.booleans(),
)
def test_routing_never_raises_and_owner_is_in_policy(
    fields: dict[str, Any],
    state: PoolState,
    policy: RoutingPolicy,
    verdict: LlmRoutingVerdict | None,
    degraded: bool,
) -> None:
    """Any lead gets an owner named by the policy, a reason, and segment/region names from the policy."""
    lead = Lead.model_validate(fields)
    decision = decide_route(lead, policy, pool_state=state, llm=verdict, llm_degraded=degraded)
    assert decision.owner in policy.all_owner_ids()
    assert decision.segment is None or decision.segment in policy.segments
    assert decision.region is None or decision.region in policy.regions
    assert decision.reason
    assert not decision.reason.startswith("could not be routed")
    assert (decision.segment is None or decision.region is None) == (
        decision.owner == policy.queues.default
    )


def test_pool_model_needs_an_active_member() -> None:
    """A pool where nobody is active is refused when the policy loads, not discovered at routing time."""
    with pytest.raises(ValueError, match="at least one active member"):
        Pool(members=[PoolMember(id=ACCOUNT_OWNER, active=False)])


def test_an_unforeseen_failure_still_assigns_the_default_queue() -> None:
    """Even a policy object that bypassed validation cannot leave a lead without an owner."""
    # model_construct skips validation, which is the only way to get such an object.
    fields: dict[str, Any] = {
        "version": "broken",
        "segments": {"S": "not a segment"},
        "queues": POLICY.queues,
    }
    broken = RoutingPolicy.model_construct(**fields)
    decision = decide_route(_lead(420, "Germany"), broken)
    assert decision.owner == POLICY.queues.default
    assert decision.needs_review is True
    assert decision.reason.startswith("could not be routed")
