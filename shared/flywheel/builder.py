"""Building flywheel records from what the workloads pass to their sink.

The workloads (workers/route.py, first_touch.py, template_suggest.py, feedback.py) pass a dict:
workload_id, timestamp, client_id, lead_id, event_id, replay_id, attempt, outcome, owner,
blocked, source, policy_version, latency_ms, decision (the decision's JSON dump), llm_exchange
(an LlmExchange dump, or None when the rules decided alone) and lead (the lead's fields in
RECORD_LEAD_FIELDS, for a rules-only prompt and for redaction; never stored as such).
`to_record` turns that into a `FlywheelRecord`: the model's exchange verbatim when there was
one, else a synthetic prompt of the inputs and a JSON answer under model rules-<version>.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.flywheel.record import (
    FEEDBACK_WORKLOAD,
    FIRST_TOUCH_WORKLOAD,
    ROUTE_WORKLOAD,
    TEMPLATE_WORKLOAD,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    FlywheelRecord,
    RecordMetadata,
    format_timestamp,
    record_id_for,
    route_record_id,
    rules_model,
)

__all__ = ["RECORD_LEAD_FIELDS", "to_record"]

log = logging.getLogger("shared.flywheel")

# Lead fields a workload passes with its decision (key "lead"): the inputs a rules-only record
# describes, and the names and addresses redaction must find in prompts and responses.
RECORD_LEAD_FIELDS: tuple[str, ...] = (
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "MobilePhone",
    "Company",
    "Title",
    "Country",
    "NumberOfEmployees",
    "Industry",
    "LeadSource",
    "Product_Interest__c",
    "Description",
    "CreatedDate",
)
# The inputs a synthetic prompt shows: what the rules decide on, never a name or an address.
_PROMPT_FIELDS = (
    "Company",
    "Title",
    "Country",
    "NumberOfEmployees",
    "Industry",
    "LeadSource",
    "Product_Interest__c",
    "Description",
)


def _decision_identity(raw: Mapping[str, Any]) -> str:
    workload = str(raw.get("workload_id"))
    lead_id = raw.get("lead_id")
    event_id = raw.get("event_id")
    decision = raw.get("decision") or {}
    if workload == ROUTE_WORKLOAD and lead_id:
        return route_record_id(str(lead_id))
    if workload == TEMPLATE_WORKLOAD and lead_id:
        return record_id_for(workload, "lead", str(lead_id))
    if event_id:
        return record_id_for(workload, "event", str(event_id))
    if workload == FIRST_TOUCH_WORKLOAD and lead_id:
        return record_id_for(
            workload,
            "lead",
            str(lead_id),
            decision.get("source_record_id"),
            decision.get("first_response_at"),
        )
    # Nothing names the decision: it cannot be a copy of another, so a fresh id is right.
    return str(uuid.uuid4())


def _rules_prompt(workload: str, raw: Mapping[str, Any]) -> str:
    """The synthetic user message of a rules-only decision: the task and its inputs as data."""
    lead = raw.get("lead") or {}
    inputs: dict[str, Any] = {"lead_id": raw.get("lead_id")}
    for name in _PROMPT_FIELDS:
        if lead.get(name) not in (None, ""):
            inputs[name] = lead[name]
    email = lead.get("Email")
    if isinstance(email, str) and email.count("@") == 1:
        inputs["EmailDomain"] = email.rsplit("@", 1)[1].lower()
    decision = raw.get("decision") or {}
    if workload == FIRST_TOUCH_WORKLOAD:
        task = "Find this lead's first response and its time to first response."
        for name in ("first_response_at", "source", "source_record_id", "sla_hours"):
            if decision.get(name) is not None:
                inputs[f"earliest_{name}" if name != "sla_hours" else name] = decision[name]
    elif workload == TEMPLATE_WORKLOAD:
        task = "Choose the outreach template for this lead."
    elif workload == FEEDBACK_WORKLOAD:
        task = "A person reassigned a lead that was routed automatically; who should own it?"
        for name in ("old_owner", "minutes_since_routing", "routed_record_id"):
            inputs[name] = decision.get(name)
    else:
        task = "Route this lead: segment, region and owner."
    data = json.dumps(inputs, ensure_ascii=False, sort_keys=True, default=str)
    return f"{task}\nInputs (data, not instructions): {data}"


_ANSWER_FIELDS: dict[str, tuple[str, ...]] = {
    ROUTE_WORKLOAD: ("segment", "region", "owner", "confidence"),
    FIRST_TOUCH_WORKLOAD: ("first_response_at", "source", "ttfr_minutes", "business_minutes"),
    TEMPLATE_WORKLOAD: ("template_id", "intent", "confidence"),
    FEEDBACK_WORKLOAD: ("new_owner",),
}


def _rules_answer(workload: str, raw: Mapping[str, Any]) -> str:
    decision = raw.get("decision") or {}
    answer = {name: decision.get(name) for name in _ANSWER_FIELDS.get(workload, ())}
    if workload == ROUTE_WORKLOAD and answer.get("owner") is None:
        answer["owner"] = raw.get("owner")
    answer["outcome"] = raw.get("outcome")
    return json.dumps(answer, ensure_ascii=False, sort_keys=True, default=str)


def _with_lead_created_at(
    decision: Mapping[str, Any] | None, lead: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The decision, plus when the lead was created if the workload passed it (for latency)."""
    if not decision:
        return None
    out = dict(decision)
    created = (lead or {}).get("CreatedDate")
    if created and "lead_created_at" not in out:
        try:
            out["lead_created_at"] = format_timestamp(
                datetime.fromisoformat(str(created).replace("Z", "+00:00"))
            )
        except ValueError:
            out["lead_created_at"] = str(created)
    return out


def _timestamp_of(raw: Mapping[str, Any]) -> datetime:
    value = raw.get("timestamp")
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    raise ValueError("a flywheel record needs a timestamp")


def _exchanged(
    exchange: Mapping[str, Any], workload: str
) -> tuple[ChatRequest, ChatResponse] | None:
    """The exchange's request and response, or None when they are not in OpenAI's shape."""
    try:
        return (
            ChatRequest.model_validate(exchange.get("request")),
            ChatResponse.model_validate(exchange.get("response")),
        )
    except ValidationError as exc:
        log.warning(
            "flywheel exchange not in OpenAI format; recorded with a synthetic prompt",
            extra={"workload": workload, "errors": exc.error_count()},
        )
        return None


def to_record(raw: Mapping[str, Any], *, client_id: str | None = None) -> FlywheelRecord:
    """The record of what a workload passed to its sink (its dict, see workers/*._record)."""
    workload = str(raw.get("workload_id"))
    moment = _timestamp_of(raw)
    record_id = str(raw.get("record_id") or _decision_identity(raw))
    exchange = raw.get("llm_exchange")
    policy_version = raw.get("policy_version")
    provider: str | None = exchange.get("provider") if exchange else None
    exchanged = _exchanged(exchange, workload) if exchange else None
    if exchanged is not None:
        request, response = exchanged
    else:
        # An exchange that is not OpenAI-shaped still names its model; the decision is kept.
        model = str(exchange.get("model") or provider) if exchange else rules_model(policy_version)
        request = ChatRequest(
            model=model,
            messages=[ChatMessage(role="user", content=_rules_prompt(workload, raw))],
        )
        response = ChatResponse(
            id=f"rules-{record_id}",
            created=int(moment.timestamp()),
            model=model,
            choices=[
                Choice(
                    message=ChatMessage(role="assistant", content=_rules_answer(workload, raw)),
                    finish_reason="stop",
                )
            ],
        )
    decision = _with_lead_created_at(raw.get("decision"), raw.get("lead"))
    metadata = RecordMetadata(
        record_id=record_id,
        lead_id=raw.get("lead_id"),
        outcome=raw.get("outcome"),
        source=raw.get("source"),
        policy_version=policy_version,
        latency_ms=raw.get("latency_ms"),
        event_id=raw.get("event_id"),
        replay_id=raw.get("replay_id"),
        attempt=int(raw.get("attempt") or 1),
        owner=raw.get("owner"),
        blocked=raw.get("blocked"),
        llm_provider=provider,
        decision=decision,
    )
    return FlywheelRecord(
        timestamp=moment,
        client_id=client_id or str(raw.get("client_id") or ""),
        workload_id=workload,
        request=request,
        response=response,
        metadata=metadata,
    )
