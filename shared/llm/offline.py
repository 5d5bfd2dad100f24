"""The offline provider: deterministic heuristics, no network; it answers when no API key is set.

Routing: what the rules read stays as they read it; what they could not read is filled from the
hints in shared/llm/hints.py (an employee count in words or as a range, a place from a city,
state, phone prefix or country-code domain), and only when every country a hint could mean lies
in one region of the policy. Templates: the keyword intent rules of shared/intent.py and the
catalogue's first template for that intent. Answers go through the same schema checks and are
recorded in the same OpenAI format as the Anthropic provider's, so the flywheel reads both alike.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from shared.countries import normalize_country
from shared.intent import detect_intent
from shared.llm.answers import routing_answer, template_answer
from shared.llm.exchange import TokenUsage, record_exchange
from shared.llm.hints import EmployeeHint, employees_in_text, place_hints, read_employee_count
from shared.llm.port import LlmExchange, RoutingAnswer, TemplateAnswer
from shared.llm.prompts import Prompt, routing_prompt, template_prompt
from shared.models import Lead
from shared.policy import RoutingPolicy
from shared.routing import parse_employee_count
from shared.templates import TemplateCatalog, choose_template

PROVIDER = "offline"
VERSION = "1"
MODEL = f"offline-heuristics-{VERSION}"

CONFIDENCE_RULES = 0.95
CONFIDENCE_COUNT_FIELD = 0.8
CONFIDENCE_DESCRIPTION = 0.65
CONFIDENCE_SPANS_SEGMENTS = 0.55

Placement = tuple[str | None, float, str]


def _segment_of(hint: EmployeeHint, policy: RoutingPolicy, confidence: float) -> Placement:
    """The segment of a read count; a range crossing segments goes by its midpoint, less surely."""
    first = policy.segment_for(hint.lo)
    segment = policy.segment_for(hint.typical)
    if segment is None:
        return None, 0.0, f"segment unknown: {hint.evidence}, in no segment range"
    if hint.hi is None:
        open_ended = policy.segments[segment].hi is None
        spans = not open_ended
    else:
        spans = first != policy.segment_for(hint.hi)
    if spans:
        confidence = min(confidence, CONFIDENCE_SPANS_SEGMENTS)
        return segment, confidence, f"{segment}: {hint.evidence}, spanning segments"
    return segment, confidence, f"{segment}: {hint.evidence}"


def offline_segment(lead: Lead, policy: RoutingPolicy) -> Placement:
    """Segment, confidence and evidence: the count as rules read it, else read loosely, else described."""
    count, problem = parse_employee_count(lead.NumberOfEmployees)
    if count is not None:
        segment = policy.segment_for(count)
        if segment is None:
            return None, 0.0, f"segment unknown: {count} employees is in no segment range"
        return segment, CONFIDENCE_RULES, f"{segment}: {count} employees"
    hint = read_employee_count(lead.NumberOfEmployees)
    if hint is not None:
        return _segment_of(hint, policy, CONFIDENCE_COUNT_FIELD)
    hint = employees_in_text(lead.Description)
    if hint is not None:
        return _segment_of(hint, policy, CONFIDENCE_DESCRIPTION)
    return None, 0.0, f"segment unknown: {problem}"


def offline_region(lead: Lead, policy: RoutingPolicy) -> Placement:
    """Region, confidence and evidence: the rules' country, else the first hint naming one region."""
    country = normalize_country(lead.Country)
    if country is not None:
        region = policy.region_for(country.alpha_2)
        if region is None:
            return None, 0.0, f"region unknown: {country.alpha_2} is in no region of the policy"
        return region, CONFIDENCE_RULES, f"{region}: country {country.alpha_2}"
    for hint in place_hints(lead):
        regions = {policy.region_for(code) for code in hint.codes}
        if len(regions) == 1:
            region = regions.pop()
            if region is not None:
                return region, hint.confidence, f"{region}: {hint.evidence}"
    return None, 0.0, "region unknown: no field tells where the lead is"


def offline_routing(lead: Lead, policy: RoutingPolicy) -> dict[str, Any]:
    """The routing tool's arguments as the heuristics would fill them."""
    segment, segment_confidence, segment_reason = offline_segment(lead, policy)
    region, region_confidence, region_reason = offline_region(lead, policy)
    known = [
        c for value, c in ((segment, segment_confidence), (region, region_confidence)) if value
    ]
    return {
        "segment": segment,
        "region": region,
        "confidence": min(known) if known else 0.0,
        "reason": f"{segment_reason}; {region_reason}",
    }


def offline_template(lead: Lead, catalog: TemplateCatalog) -> dict[str, Any]:
    """The template tool's arguments as the keyword intent rules would fill them."""
    guess = detect_intent(lead)
    template = choose_template(catalog, guess.intent)
    return {
        "intent": template.intent,
        "template_id": template.id,
        "confidence": guess.confidence if template.intent == guess.intent else 0.3,
        "variable_suggestions": {},
    }


def _exchange(prompt: Prompt, arguments: dict[str, Any], started: float) -> LlmExchange:
    """The exchange of an offline answer, with ids derived from the prompt so reruns match."""
    digest = hashlib.sha256(f"{prompt.system}\n{prompt.user}".encode()).hexdigest()
    return record_exchange(
        provider=PROVIDER,
        request_model=MODEL,
        response_model=MODEL,
        prompt=prompt,
        response_id=f"offline-{digest[:24]}",
        created=int(time.time()),
        call_id=f"call_{digest[24:48]}",
        arguments=arguments,
        usage=TokenUsage(),
        latency_ms=(time.monotonic() - started) * 1000,
    )


class OfflineProvider:
    """An LlmPort that never leaves the process: the same answers for the same lead, every time."""

    @property
    def name(self) -> str:
        """Provider name as recorded in the flywheel."""
        return PROVIDER

    def close(self) -> None:
        """Nothing to release; here so callers can close any provider alike."""

    def route(self, lead: Lead, policy: RoutingPolicy, *, timeout: float) -> RoutingAnswer:
        """Segment and region from the rules' view plus heuristics; `timeout` is never reached."""
        started = time.monotonic()
        arguments = offline_routing(lead, policy)
        exchange = _exchange(routing_prompt(lead, policy), arguments, started)
        return routing_answer(arguments, policy, exchange)

    def choose_template(
        self, lead: Lead, catalog: TemplateCatalog, *, timeout: float
    ) -> TemplateAnswer:
        """Intent from keyword rules and the catalogue's template for it."""
        started = time.monotonic()
        arguments = offline_template(lead, catalog)
        exchange = _exchange(template_prompt(lead, catalog), arguments, started)
        return template_answer(arguments, catalog, exchange)
