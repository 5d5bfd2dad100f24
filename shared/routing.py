"""Who owns a new lead: a pure decision from the lead, the policy and gathered inputs.

Confidence of a decision, by what settled it:

- 0.95  an active Account owner matched the lead's email domain;
- 0.95  rules placed segment and region, the country written as an ISO code or name;
- 0.90  the same, but the country was recognised through the alias table ("UK", "Holland");
- the LLM's own confidence when its verdict supplied or changed the segment or region;
- 0.30  the lead went to the default queue because segment or region stayed unknown;
- at most 0.60 when the country requires validation (the decision needs a person's review).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.countries import CountryMatch, normalize_country
from shared.models import AccountOwnerMatch, DecisionSource, Lead, RoutingDecision
from shared.policy import Pool, RoutingPolicy
from shared.salesforce.ids import is_valid_id

CONFIDENCE_ACCOUNT = 0.95
CONFIDENCE_CLEAN = 0.95
CONFIDENCE_ALIAS = 0.90
CONFIDENCE_DEFAULT_QUEUE = 0.30
CONFIDENCE_REVIEW_CAP = 0.60

_SHOWN_LIMIT = 40
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
_SEPARATORS = re.compile(r"[\s_\u00a0\u2009\u202f]")


class LlmRoutingVerdict(BaseModel):
    """What the LLM answered through the routing tool: names from the policy, never an owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: str | None
    region: str | None
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str


class PoolState(BaseModel):
    """How many leads each pool member has been given, in total and today."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    assigned_total: dict[str, int] = Field(default_factory=dict)
    assigned_today: dict[str, int] = Field(default_factory=dict)

    def with_pick(self, member_id: str) -> PoolState:
        """The state after one more lead went to this member."""
        total = dict(self.assigned_total)
        today = dict(self.assigned_today)
        total[member_id] = total.get(member_id, 0) + 1
        today[member_id] = today.get(member_id, 0) + 1
        return PoolState(assigned_total=total, assigned_today=today)


def _shown(value: object, limit: int = _SHOWN_LIMIT) -> str:
    """A short quoted form of lead text for a reason."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"'{text}'"


def parse_employee_count(value: object) -> tuple[int | None, str | None]:
    """A positive whole employee count, or None with the reason it cannot be used."""
    if value is None:
        return None, "employee count is missing"
    if isinstance(value, bool):
        return None, f"employee count {_shown(value)} is not a number"
    number: int | float
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None, f"employee count {_shown(value)} is not a finite number"
        number = value
    elif isinstance(value, str):
        compact = _SEPARATORS.sub("", value)
        if not compact:
            return None, "employee count is empty"
        if _GROUPED_NUMBER.fullmatch(compact):
            compact = compact.replace(",", "")
        if not _PLAIN_NUMBER.fullmatch(compact):
            return None, f"employee count {_shown(value)} is not a number"
        number = float(compact) if "." in compact else int(compact)
    else:
        return None, f"employee count {_shown(value)} is not a number"
    if isinstance(number, float):
        if not number.is_integer():
            return None, f"employee count {_shown(value)} is not a whole number"
        number = int(number)
    if number == 0:
        return None, "employee count is 0"
    if number < 0:
        return None, f"employee count {_shown(value)} is negative"
    return number, None


def policy_enums(policy: RoutingPolicy) -> dict[str, Any]:
    """JSON schema of the routing tool's input: segment and region restricted to the policy's names."""
    return {
        "type": "object",
        "properties": {
            "segment": {"enum": [*policy.segments, None]},
            "region": {"enum": [*policy.regions, None]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reason": {"type": "string"},
        },
        "required": ["segment", "region", "confidence", "reason"],
        "additionalProperties": False,
    }


def pick_pool_member(pool: Pool, state: PoolState) -> str | None:
    """Weighted round robin: the available member furthest below its share, first listed on a tie.

    A member's next share is (assigned_total + 1) / weight; the smallest wins, so over many picks
    each member's share of leads approaches weight / total weight. Inactive members and members
    whose assigned_today has reached their daily cap are skipped; None when nobody is left.
    """
    best: tuple[Fraction, int] | None = None
    chosen: str | None = None
    for index, member in enumerate(pool.members):
        if not member.active:
            continue
        if (
            member.daily_cap is not None
            and state.assigned_today.get(member.id, 0) >= member.daily_cap
        ):
            continue
        key = (Fraction(state.assigned_total.get(member.id, 0) + 1, member.weight), index)
        if best is None or key < best:
            best, chosen = key, member.id
    return chosen


@dataclass(frozen=True)
class _Placement:
    """Segment and region as the rules see them, with the words that explain each."""

    segment: str | None
    region: str | None
    segment_reason: str
    region_reason: str
    country: CountryMatch | None


def _place(lead: Lead, policy: RoutingPolicy) -> _Placement:
    """Segment from the employee count and region from the country, by the policy's rules."""
    count, problem = parse_employee_count(lead.NumberOfEmployees)
    segment: str | None = None
    if count is None:
        segment_reason = f"segment unknown: {problem}"
    else:
        segment = policy.segment_for(count)
        if segment is None:
            segment_reason = (
                f"segment unknown: employee count {count} is outside every segment range"
            )
        else:
            described = policy.segments[segment].describe_range()
            segment_reason = f"{segment}: {count} employees in {described}"
    country = normalize_country(lead.Country)
    region: str | None = None
    if country is None:
        if lead.Country is None or not lead.Country.strip():
            region_reason = "region unknown: country is missing"
        else:
            region_reason = f"region unknown: country {_shown(lead.Country)} is not recognised"
    else:
        region = policy.region_for(country.alpha_2)
        if region is None:
            region_reason = (
                f"region unknown: country {_shown(lead.Country)} = {country.alpha_2} "
                "is in no region of the policy"
            )
        else:
            region_reason = f"{region}: country {_shown(lead.Country)} = {country.alpha_2}"
    return _Placement(
        segment=segment,
        region=region,
        segment_reason=segment_reason,
        region_reason=region_reason,
        country=country,
    )


def _needs_review(country: CountryMatch | None, policy: RoutingPolicy) -> bool:
    """Whether the policy asks a person to validate leads from this country."""
    return (
        country is not None and country.alpha_2 in policy.routing_rules.require_validation_countries
    )


def rules_are_unsure(lead: Lead, policy: RoutingPolicy) -> bool:
    """True when rules leave segment or region open, or the country requires validation."""
    placement = _place(lead, policy)
    return (
        placement.segment is None
        or placement.region is None
        or _needs_review(placement.country, policy)
    )


def _apply_llm(
    placement: _Placement, llm: LlmRoutingVerdict, policy: RoutingPolicy
) -> tuple[str | None, str | None, list[str], bool]:
    """Segment and region after the LLM's verdict, notes for the reason, and whether it changed them."""
    segment, region = placement.segment, placement.region
    notes: list[str] = []
    changed = False
    for kind, proposed, names in (
        ("segment", llm.segment, policy.segments),
        ("region", llm.region, policy.regions),
    ):
        if proposed is None:
            continue
        current = segment if kind == "segment" else region
        if proposed not in names:
            notes.append(f"LLM {kind} {_shown(proposed)} is not in the policy; ignored")
            continue
        if proposed == current:
            continue
        notes.append(
            f"LLM set {kind} {proposed}"
            + (f" (rules said {current})" if current is not None else "")
        )
        changed = True
        if kind == "segment":
            segment = proposed
        else:
            region = proposed
    return segment, region, notes, changed


def _owner_for(
    segment: str, region: str, policy: RoutingPolicy, state: PoolState
) -> tuple[str, str]:
    """The policy's owner for a segment × region (a pool replaces the owner) and how it was chosen."""
    key = policy.owner_key(segment, region)
    pool = policy.pools.get(key)
    if pool is not None:
        picked = pick_pool_member(pool, state)
        if picked is None:
            return (
                policy.queues.overflow,
                f"pool {key} has nobody available (inactive or at daily cap); overflow queue",
            )
        return picked, f"round robin in pool {key}"
    owner = policy.owners.get(key)
    if owner is None:
        return policy.queues.default, f"no owner for {key}; default queue"
    return owner, f"owner for {key}"


def _account_owner(match: AccountOwnerMatch | None) -> tuple[str | None, str | None]:
    """The account owner's id if that owner can take the lead, and a note either way."""
    if match is None:
        return None, None
    where = f"account {match.account_id} (domain {match.domain})"
    if not match.owner_active:
        return None, f"{where} owner {match.owner_id} is inactive; routed by rules"
    if not is_valid_id(match.owner_id) or not match.owner_id.startswith("005"):
        return None, f"{where} owner {_shown(match.owner_id)} is not a user id; routed by rules"
    return match.owner_id, f"owner of {where}"


def _industry_note(lead: Lead, policy: RoutingPolicy) -> str | None:
    """A note when the lead's industry is one the policy treats as high priority."""
    industry = (lead.Industry or "").strip().casefold()
    if not industry:
        return None
    for listed in policy.routing_rules.high_priority_industries:
        if listed.strip().casefold() == industry:
            return f"high-priority industry {listed}"
    return None


def decide_route(
    lead: Lead,
    policy: RoutingPolicy,
    *,
    pool_state: PoolState | None = None,
    account_owner: AccountOwnerMatch | None = None,
    llm: LlmRoutingVerdict | None = None,
    llm_degraded: bool = False,
) -> RoutingDecision:
    """Route one lead: account owner, then segment × region owner or pool, else a queue. Never raises."""
    try:
        return _decide(lead, policy, pool_state or PoolState(), account_owner, llm, llm_degraded)
    except Exception as exc:  # a lead must always get an owner, even one no rule foresaw
        return RoutingDecision(
            lead_id=lead.Id,
            segment=None,
            region=None,
            owner=policy.queues.default,
            owner_kind="queue",
            reason=f"could not be routed ({type(exc).__name__}); default queue",
            confidence=0.0,
            source="degraded" if llm_degraded else "rules",
            policy_version=policy.version,
            needs_review=True,
        )


def _decide(
    lead: Lead,
    policy: RoutingPolicy,
    state: PoolState,
    account_owner: AccountOwnerMatch | None,
    llm: LlmRoutingVerdict | None,
    llm_degraded: bool,
) -> RoutingDecision:
    """decide_route's body, free to raise on something unforeseen."""
    placement = _place(lead, policy)
    segment, region = placement.segment, placement.region
    notes: list[str] = []
    llm_changed = False
    if llm is not None and llm_degraded:
        notes.append("LLM verdict ignored because the LLM was marked unavailable")
    elif llm is not None:
        segment, region, llm_notes, llm_changed = _apply_llm(placement, llm, policy)
        notes.extend(llm_notes)
    if llm is not None and llm_changed:
        notes.append(f"LLM: {_shown(llm.reason, 120)}")
    parts = [placement.segment_reason, placement.region_reason]
    account_id, account_note = _account_owner(account_owner)
    if account_id is not None and account_note is not None:
        owner, owner_note = account_id, account_note
        confidence = CONFIDENCE_ACCOUNT
        source: DecisionSource = "rules"
    elif segment is None or region is None:
        owner, owner_note = policy.queues.default, "default queue"
        confidence = CONFIDENCE_DEFAULT_QUEUE
        source = "llm" if llm_changed else "rules"
    else:
        owner, owner_note = _owner_for(segment, region, policy, state)
        if llm_changed and llm is not None:
            confidence, source = llm.confidence, "llm"
        else:
            alias = placement.country is not None and placement.country.matched_by == "alias"
            confidence = CONFIDENCE_ALIAS if alias else CONFIDENCE_CLEAN
            source = "rules"
    if account_note is not None and account_id is None:
        notes.append(account_note)
    needs_review = _needs_review(placement.country, policy)
    if needs_review:
        confidence = min(confidence, CONFIDENCE_REVIEW_CAP)
        notes.append(
            f"{placement.country.alpha_2 if placement.country else ''} requires validation"
        )
    industry = _industry_note(lead, policy)
    if industry is not None:
        notes.append(industry)
    if llm_degraded:
        source = "degraded"
        notes.append("LLM unavailable; rules decided")
    reason = "; ".join([*parts, owner_note, *notes])
    return RoutingDecision(
        lead_id=lead.Id,
        segment=segment,
        region=region,
        owner=owner,
        owner_kind=policy.owner_kind(owner),
        reason=reason,
        confidence=confidence,
        source=source,
        policy_version=policy.version,
        needs_review=needs_review,
    )
