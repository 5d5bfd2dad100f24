"""Reading a tool call's arguments into an answer: every value must be one the schema allowed.

A model that calls the tool with a name outside the policy or catalogue, a confidence that is not
a number in [0, 1], or a missing required field has not answered; that is an LlmAnswerError, so
rules decide instead of a guess. Suggested template variables are optional: names the chosen
template does not declare are dropped, and blank values are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from shared.intent import Intent
from shared.llm.port import LlmAnswerError, LlmExchange, RoutingAnswer, TemplateAnswer
from shared.llm.prompts import ROUTING_TOOL, TEMPLATE_TOOL, suggestible_variables
from shared.policy import RoutingPolicy
from shared.routing import LlmRoutingVerdict
from shared.templates import TemplateCatalog

REASON_LIMIT = 300
_SHOWN_LIMIT = 60


def _shown(value: object) -> str:
    """A short repr of an offending value for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_LIMIT else text[:_SHOWN_LIMIT] + "…"


def _required(arguments: Mapping[str, object], key: str, tool: str) -> object:
    """A required argument, or LlmAnswerError naming it."""
    if key not in arguments:
        raise LlmAnswerError(f"{tool}: the answer has no {key!r}")
    return arguments[key]


def _name_in(
    value: object, allowed: list[str], key: str, tool: str, *, nullable: bool
) -> str | None:
    """A value that must be one of the allowed names (or null when nullable)."""
    if value is None and nullable:
        return None
    if isinstance(value, str) and value in allowed:
        return value
    raise LlmAnswerError(f"{tool}: {key} {_shown(value)} is not one of {allowed}")


def _confidence(value: object, tool: str) -> float:
    """A number in [0, 1]; booleans and numeric strings are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LlmAnswerError(f"{tool}: confidence {_shown(value)} is not a number")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise LlmAnswerError(f"{tool}: confidence {_shown(value)} is outside [0, 1]")
    return number


def routing_answer(
    arguments: Mapping[str, object], policy: RoutingPolicy, exchange: LlmExchange
) -> RoutingAnswer:
    """The routing verdict in a tool call's arguments; LlmAnswerError when it breaks the schema."""
    tool = ROUTING_TOOL
    segment = _name_in(
        _required(arguments, "segment", tool), list(policy.segments), "segment", tool, nullable=True
    )
    region = _name_in(
        _required(arguments, "region", tool), list(policy.regions), "region", tool, nullable=True
    )
    confidence = _confidence(_required(arguments, "confidence", tool), tool)
    reason = _required(arguments, "reason", tool)
    if not isinstance(reason, str):
        raise LlmAnswerError(f"{tool}: reason {_shown(reason)} is not text")
    reason = " ".join(reason.split())
    if len(reason) > REASON_LIMIT:
        reason = reason[:REASON_LIMIT] + "…"
    verdict = LlmRoutingVerdict(
        segment=segment, region=region, confidence=confidence, reason=reason or "no reason given"
    )
    return RoutingAnswer(verdict=verdict, exchange=exchange)


def _suggestions(
    value: object, allowed: list[str], declared: tuple[str, ...], tool: str
) -> dict[str, str]:
    """Suggested variable values kept for the chosen template; unknown names break the schema."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LlmAnswerError(f"{tool}: variable_suggestions {_shown(value)} is not an object")
    kept: dict[str, str] = {}
    for name, text in value.items():
        if name not in allowed:
            raise LlmAnswerError(
                f"{tool}: variable_suggestions names {_shown(name)}, not one of {allowed}"
            )
        if not isinstance(text, str):
            raise LlmAnswerError(f"{tool}: variable_suggestions.{name} {_shown(text)} is not text")
        if name in declared and text.strip():
            kept[name] = text.strip()
    return kept


def template_answer(
    arguments: Mapping[str, object], catalog: TemplateCatalog, exchange: LlmExchange
) -> TemplateAnswer:
    """The intent and template in a tool call's arguments; LlmAnswerError when it breaks the schema."""
    tool = TEMPLATE_TOOL
    intents: dict[str, Intent] = {
        template.intent: template.intent for template in catalog.templates
    }
    intent_name = _name_in(
        _required(arguments, "intent", tool), list(intents), "intent", tool, nullable=False
    )
    ids = [template.id for template in catalog.templates]
    template_id = _name_in(
        _required(arguments, "template_id", tool), ids, "template_id", tool, nullable=False
    )
    confidence = _confidence(_required(arguments, "confidence", tool), tool)
    chosen = next(template for template in catalog.templates if template.id == template_id)
    suggestions = _suggestions(
        arguments.get("variable_suggestions"),
        suggestible_variables(catalog),
        chosen.variables,
        tool,
    )
    return TemplateAnswer(
        intent=intents[str(intent_name)],
        template_id=chosen.id,
        confidence=confidence,
        variable_suggestions=suggestions,
        exchange=exchange,
    )
