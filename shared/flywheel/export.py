"""Export for NVIDIA's data-flywheel blueprint, and the checks it applies before it will train.

The blueprint's index accepts exactly five top-level keys (its mapping is strict), so an
exported line is ``timestamp`` (epoch seconds), ``workload_id``, ``client_id``, ``request`` and
``response``; the record's metadata travels inside ``request["metadata"]`` (request is stored,
not indexed). Decisions become function calls, which the blueprint scores by exact name and
argument match rather than by a judge's similarity:

- a model's answer is exported exactly as exchanged (it already is a tool call);
- a rules-only routing record becomes a ``route_lead(segment, region, owner_id, confidence,
  reason)`` call, a feedback record ``route_lead`` with the owner the person chose, a rules-only
  template record ``choose_template(intent, template_id, confidence)``;
- first-touch records stay JSON answers (their work is arithmetic, not a choice).

Records without a decision (a run that found the lead routed already, a lead not found) are not
exported: they teach nothing. ``validate`` applies the blueprint's checks: non-empty
messages and choices, at most 8 parameters per function, tool calls of type function for a
tool-calling workload, duplicate user prompts removed, and at least 50 records left.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.flywheel.record import (
    FEEDBACK_WORKLOAD,
    ROUTE_WORKLOAD,
    TEMPLATE_WORKLOAD,
)

__all__ = [
    "EXPORT_KEYS",
    "MAX_TOOL_PARAMETERS",
    "MIN_RECORDS",
    "ROUTE_TOOL",
    "TEMPLATE_TOOL",
    "WorkloadCheck",
    "to_nvidia",
    "validate_export",
]

EXPORT_KEYS = frozenset({"timestamp", "workload_id", "client_id", "request", "response"})
MAX_TOOL_PARAMETERS = 8
MIN_RECORDS = 50

ROUTE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "route_lead",
        "description": "Assign the lead: its segment, region and owner, with a confidence and reason.",
        "parameters": {
            "type": "object",
            "properties": {
                "segment": {"type": ["string", "null"]},
                "region": {"type": ["string", "null"]},
                "owner_id": {"type": ["string", "null"]},
                "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "reason": {"type": ["string", "null"]},
            },
            "required": ["segment", "region", "owner_id", "confidence", "reason"],
        },
    },
}
TEMPLATE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "choose_template",
        "description": "Record the lead's intent and the template that answers it.",
        "parameters": {
            "type": "object",
            "properties": {
                "intent": {"type": "string"},
                "template_id": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "required": ["intent", "template_id", "confidence"],
        },
    },
}


def _epoch_seconds(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def _tool_answer(
    response: Mapping[str, Any], tool: Mapping[str, Any], arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """The response with its first choice replaced by one call of tool."""
    name = tool["function"]["name"]
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{name}_{response.get('id', '')}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": json.dumps(arguments, ensure_ascii=False, sort_keys=True),
                },
            }
        ],
    }
    return {
        **response,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }


def _as_function_call(
    workload: str, request: dict[str, Any], response: dict[str, Any], meta: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rules-only routing, feedback and template records as the function call they stand for."""
    decision = meta.get("decision") or {}
    if workload == ROUTE_WORKLOAD:
        tool = ROUTE_TOOL
        arguments = {
            "segment": decision.get("segment"),
            "region": decision.get("region"),
            "owner_id": decision.get("owner") or meta.get("owner"),
            "confidence": decision.get("confidence"),
            "reason": decision.get("reason"),
        }
    elif workload == FEEDBACK_WORKLOAD:
        tool = ROUTE_TOOL
        arguments = {
            "segment": None,
            "region": None,
            "owner_id": decision.get("new_owner"),
            "confidence": 1.0,
            "reason": "reassigned by a person",
        }
    elif workload == TEMPLATE_WORKLOAD:
        tool = TEMPLATE_TOOL
        arguments = {
            "intent": decision.get("intent"),
            "template_id": decision.get("template_id"),
            "confidence": decision.get("confidence"),
        }
    else:
        return request, response
    request = {
        **request,
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": tool["function"]["name"]}},
    }
    return request, _tool_answer(response, tool, arguments)


def to_nvidia(record: Mapping[str, Any], *, llm_only: bool = False) -> dict[str, Any] | None:
    """A stored record (JSON dict) in the blueprint's five-key form; None when not exported."""
    meta = dict(record["metadata"])
    if not meta.get("decision"):
        return None
    if llm_only and meta.get("llm_provider") is None:
        return None
    workload = str(record["workload_id"])
    request = dict(record["request"])
    response = dict(record["response"])
    answered_by_tool = any(
        (choice.get("message") or {}).get("tool_calls") for choice in response.get("choices", [])
    )
    if not answered_by_tool:
        request, response = _as_function_call(workload, request, response, meta)
    request["metadata"] = meta
    return {
        "timestamp": _epoch_seconds(record["timestamp"]),
        "workload_id": workload,
        "client_id": str(record["client_id"]),
        "request": request,
        "response": response,
    }


@dataclass
class WorkloadCheck:
    """The blueprint's view of one workload's records."""

    workload_id: str
    client_id: str
    records: int = 0
    invalid: int = 0
    duplicate_prompts: int = 0
    tool_calling: bool = False
    problems: dict[str, int] = field(default_factory=dict)

    @property
    def usable(self) -> int:
        """Records left after the format filter and prompt dedup."""
        return self.records - self.invalid - self.duplicate_prompts

    @property
    def meets_minimum(self) -> bool:
        """Whether the blueprint would accept the workload (at least MIN_RECORDS usable)."""
        return self.usable >= MIN_RECORDS

    def as_dict(self) -> dict[str, Any]:
        """The check as a JSON report line."""
        return {
            "workload_id": self.workload_id,
            "client_id": self.client_id,
            "records": self.records,
            "invalid": self.invalid,
            "duplicate_prompts": self.duplicate_prompts,
            "usable": self.usable,
            "tool_calling": self.tool_calling,
            "minimum": MIN_RECORDS,
            "meets_minimum": self.meets_minimum,
            "problems": dict(sorted(self.problems.items())),
        }


def _problem(line: Mapping[str, Any], tool_calling: bool) -> str | None:
    """Why the blueprint would drop this line, or None."""
    if set(line) != EXPORT_KEYS:
        return "not exactly the five keys"
    if not isinstance(line["timestamp"], int):
        return "timestamp not epoch seconds"
    request, response = line["request"], line["response"]
    if not isinstance(request, Mapping) or not request.get("messages"):
        return "no request.messages"
    if not isinstance(response, Mapping) or not response.get("choices"):
        return "no response.choices"
    if any(not isinstance(c, Mapping) or "message" not in c for c in response["choices"]):
        return "a choice without a message"
    for tool in request.get("tools") or ():
        properties = ((tool.get("function") or {}).get("parameters") or {}).get("properties") or {}
        if len(properties) > MAX_TOOL_PARAMETERS:
            return f"a function with more than {MAX_TOOL_PARAMETERS} parameters"
    if tool_calling:
        calls = (response["choices"][0].get("message") or {}).get("tool_calls") or []
        if not calls or any(call.get("type") != "function" for call in calls):
            return "no function tool call"
        for call in calls:
            try:
                json.loads(call["function"]["arguments"])
            except (KeyError, TypeError, ValueError):
                return "tool call arguments are not JSON"
    return None


def _user_text(line: Mapping[str, Any]) -> str:
    messages = (line.get("request") or {}).get("messages") or []
    return "\n".join(
        str(m.get("content"))
        for m in messages
        if isinstance(m, Mapping) and m.get("role") == "user"
    )


def validate_export(lines: Iterable[Mapping[str, Any]]) -> list[WorkloadCheck]:
    """Per workload and client: records, invalid ones, duplicate prompts, the 50-record minimum."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for line in lines:
        key = (str(line.get("workload_id")), str(line.get("client_id")))
        groups.setdefault(key, []).append(line)
    checks = []
    for (workload, client), group in sorted(groups.items()):
        # The blueprint calls a workload tool-calling when any record answers with a tool call.
        tool_calling = any(
            ((line.get("response") or {}).get("choices") or [{}])[0]
            .get("message", {})
            .get("tool_calls")
            for line in group
            if isinstance(line.get("response"), Mapping)
        )
        check = WorkloadCheck(workload, client, records=len(group), tool_calling=tool_calling)
        prompts: set[str] = set()
        for line in group:
            problem = _problem(line, tool_calling)
            if problem is not None:
                check.invalid += 1
                check.problems[problem] = check.problems.get(problem, 0) + 1
                continue
            text = _user_text(line)
            if text in prompts:
                check.duplicate_prompts += 1
            prompts.add(text)
        checks.append(check)
    return checks
