"""A tool call becomes an answer only when every value is one the schema allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.llm.answers import routing_answer, template_answer
from shared.llm.port import LlmAnswerError, LlmExchange
from shared.policy import load_policy
from shared.templates import load_templates

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "config" / "routing_policy.json")
CATALOG = load_templates(ROOT / "config" / "templates.json")
EXCHANGE = LlmExchange(provider="test", model="m", request={}, response={})
VALID_ROUTE: dict[str, Any] = {
    "segment": "MM",
    "region": "EMEA",
    "confidence": 0.8,
    "reason": "400 staff in Berlin",
}
VALID_TEMPLATE: dict[str, Any] = {
    "intent": "pricing",
    "template_id": "pricing-quote",
    "confidence": 0.9,
    "variable_suggestions": {"company": "Acme"},
}


@pytest.mark.parametrize(
    ("change", "segment", "region", "confidence"),
    [
        ({}, "MM", "EMEA", 0.8),
        ({"segment": None}, None, "EMEA", 0.8),
        ({"region": None, "segment": None}, None, None, 0.8),
        ({"confidence": 1}, "MM", "EMEA", 1.0),
        ({"note": "extra keys are ignored"}, "MM", "EMEA", 0.8),
    ],
    ids=["valid", "null-segment", "both-null", "integer-confidence", "extra-key"],
)
def test_routing_answers_the_schema_allows(
    change: dict[str, Any], segment: str | None, region: str | None, confidence: float
) -> None:
    """Names from the policy (or null) and a confidence in [0, 1] make a verdict."""
    answer = routing_answer({**VALID_ROUTE, **change}, POLICY, EXCHANGE)
    verdict = answer.verdict
    assert (verdict.segment, verdict.region, verdict.confidence) == (segment, region, confidence)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"segment": "Mid-Market"}, "segment 'Mid-Market'"),
        ({"region": "Europe"}, "region 'Europe'"),
        ({"region": "emea"}, "region 'emea'"),
        ({"confidence": 1.5}, "outside [0, 1]"),
        ({"confidence": "0.9"}, "not a number"),
        ({"confidence": True}, "not a number"),
        ({"confidence": float("nan")}, "outside [0, 1]"),
        ({"reason": 42}, "not text"),
    ],
    ids=[
        "unknown-segment",
        "unknown-region",
        "wrong-case",
        "confidence-too-high",
        "confidence-as-text",
        "confidence-as-bool",
        "confidence-nan",
        "reason-not-text",
    ],
)
def test_routing_answers_outside_the_schema_are_errors(
    change: dict[str, Any], complaint: str
) -> None:
    """A name the policy does not have or a malformed confidence is LlmAnswerError, not a guess."""
    with pytest.raises(LlmAnswerError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        routing_answer({**VALID_ROUTE, **change}, POLICY, EXCHANGE)


@pytest.mark.parametrize("missing", ["segment", "region", "confidence", "reason"])
def test_routing_answer_missing_a_required_field_is_an_error(missing: str) -> None:
    """Every field the schema requires must be present (null is a value, absence is not)."""
    arguments = {k: v for k, v in VALID_ROUTE.items() if k != missing}
    with pytest.raises(LlmAnswerError, match=missing):
        routing_answer(arguments, POLICY, EXCHANGE)


def test_long_reason_is_cut_and_whitespace_folded() -> None:
    """A rambling reason is folded to one line and cut, so decisions stay readable."""
    answer = routing_answer({**VALID_ROUTE, "reason": "a\n\n" + "b" * 1000}, POLICY, EXCHANGE)
    assert "\n" not in answer.verdict.reason
    assert len(answer.verdict.reason) <= 301


@pytest.mark.parametrize(
    ("change", "template_id", "suggestions"),
    [
        ({}, "pricing-quote", {"company": "Acme"}),
        ({"variable_suggestions": {"industry": "Retail"}}, "pricing-quote", {}),
        ({"variable_suggestions": {"company": "   "}}, "pricing-quote", {}),
        ({"variable_suggestions": None}, "pricing-quote", {}),
        ({"intent": "demo"}, "pricing-quote", {"company": "Acme"}),
    ],
    ids=[
        "valid",
        "variable-the-template-lacks-dropped",
        "blank-dropped",
        "null-suggestions",
        "intent-differs-from-template",
    ],
)
def test_template_answers_the_schema_allows(
    change: dict[str, Any], template_id: str, suggestions: dict[str, str]
) -> None:
    """A catalogue id and intent make an answer; suggestions keep only the template's variables."""
    answer = template_answer({**VALID_TEMPLATE, **change}, CATALOG, EXCHANGE)
    assert (answer.template_id, answer.variable_suggestions) == (template_id, suggestions)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"template_id": "pricing-v2"}, "template_id"),
        ({"intent": "purchase"}, "intent"),
        ({"variable_suggestions": {"meeting_link": "https://evil.example"}}, "meeting_link"),
        ({"variable_suggestions": {"company": 7}}, "not text"),
        ({"variable_suggestions": ["company"]}, "not an object"),
        ({"confidence": -0.1}, "outside"),
    ],
    ids=[
        "unknown-template",
        "unknown-intent",
        "rep-variable-suggested",
        "suggestion-not-text",
        "suggestions-not-object",
        "negative-confidence",
    ],
)
def test_template_answers_outside_the_schema_are_errors(
    change: dict[str, Any], complaint: str
) -> None:
    """An id or intent the catalogue lacks, or a variable the model may not fill, is an error."""
    with pytest.raises(LlmAnswerError, match=complaint):
        template_answer({**VALID_TEMPLATE, **change}, CATALOG, EXCHANGE)
