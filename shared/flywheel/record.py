"""The flywheel record: one decision in OpenAI chat format, the unit stored on S3 as JSONL.

One JSON object per line, in this shape (docs/flywheel_record.schema.json is generated from
`FlywheelRecord` and a test keeps it current):

- ``timestamp``: when the decision was made, ISO-8601 UTC with milliseconds
  (``2025-11-01T12:34:56.789Z``);
- ``client_id``: the deployment (setting ``LEADFLEET_CLIENT_ID``);
- ``workload_id``: ``lead.route``, ``lead.first_touch_detect``, ``outreach.template_suggest`` or
  ``lead.route.feedback`` (a person's correction of a routing decision);
- ``request``: the OpenAI ``chat.completions.create`` payload: model, messages exactly as sent,
  tools and tool_choice when used. A decision the rules made alone gets a synthetic user
  message describing its inputs and the model ``rules-<policy version>``, so it is never taken
  for a model's output;
- ``response``: the OpenAI chat completion: choices[].message with JSON content or tool_calls,
  finish_reason, usage tokens (zero for rules);
- ``metadata``: ``record_id``, ``lead_id``, ``outcome``, ``source`` (rules, llm, degraded, or
  person for feedback), ``policy_version``, ``latency_ms``, ``event_id``, ``replay_id``,
  ``attempt``, ``llm_provider`` and ``decision``, the decision's own fields:

  - lead.route: a RoutingDecision (segment, region, owner, owner_kind, reason, confidence, ...)
    plus ``owner`` in metadata;
  - lead.first_touch_detect: a FirstTouchDecision (first_response_at, ttfr_minutes,
    business_minutes, breached_segment_sla, ...);
  - outreach.template_suggest: a TemplateSuggestion without the email body (template_id, intent,
    confidence, subject, fallbacks_used, ...) plus ``blocked`` in metadata;
  - lead.route.feedback: a FeedbackDecision (old_owner, new_owner, changed_by,
    minutes_since_routing, routed_record_id, routed_at).

  lead.route and outreach.template_suggest decisions also carry ``lead_created_at`` (the lead's
  CreatedDate, same timestamp form) when the workload knew it.

Records are built from what the workloads pass by `shared.flywheel.builder.to_record`.

``record_id`` is a UUID derived from what makes a decision one decision, so every copy of it
(a re-uploaded batch, a redelivered event, a retried task) carries the same id and readers keep
one (the earliest): lead.route and outreach.template_suggest are decided once per lead, so their
id comes from the lead (feedback can name the routing record without looking it up);
lead.first_touch_detect from the activity event, or the lead and response when the workload ran
without one; lead.route.feedback from the owner-change event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "FEEDBACK_WORKLOAD",
    "FIRST_TOUCH_WORKLOAD",
    "ROUTE_WORKLOAD",
    "TEMPLATE_WORKLOAD",
    "WORKLOAD_IDS",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "FlywheelRecord",
    "FunctionCall",
    "RecordMetadata",
    "Tool",
    "ToolCall",
    "ToolFunction",
    "Usage",
    "WorkloadId",
    "format_timestamp",
    "record_id_for",
    "record_json_schema",
    "route_record_id",
    "rules_model",
    "to_record",
]

WorkloadId = Literal[
    "lead.route", "lead.first_touch_detect", "outreach.template_suggest", "lead.route.feedback"
]
ROUTE_WORKLOAD: Final = "lead.route"
FIRST_TOUCH_WORKLOAD: Final = "lead.first_touch_detect"
TEMPLATE_WORKLOAD: Final = "outreach.template_suggest"
FEEDBACK_WORKLOAD: Final = "lead.route.feedback"
WORKLOAD_IDS: tuple[str, ...] = (
    ROUTE_WORKLOAD,
    FIRST_TOUCH_WORKLOAD,
    TEMPLATE_WORKLOAD,
    FEEDBACK_WORKLOAD,
)
RecordSource = Literal["rules", "llm", "degraded", "person"]

# Fixed forever: changing it would give old and new copies of one decision different ids.
_RECORD_NAMESPACE = uuid.UUID("6b1f9a52-3c0e-4d7a-9f51-2e8d4c7b1a90")


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z: the one timestamp form records carry."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _must_be_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone")
    utc = moment.astimezone(UTC)
    # Stored to the millisecond, so a record read back equals the record written.
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


RecordTimestamp = Annotated[
    datetime,
    AfterValidator(_must_be_aware),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _OpenAi(_Strict):
    """An OpenAI wire object: optional fields that are unset are left out, as OpenAI does."""

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        # An assistant message that calls a tool has content null in OpenAI's own responses.
        return {k: v for k, v in data.items() if v is not None or k == "content"}


class FunctionCall(_OpenAi):
    """A function the model called, its arguments as a JSON string (OpenAI's form)."""

    name: str
    arguments: str


class ToolCall(_OpenAi):
    """One tool call in an assistant message."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_OpenAi):
    """One chat message: system or user prompt, assistant answer, or tool result."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class ToolFunction(_OpenAi):
    """A function the model may call, with its JSON Schema parameters."""

    name: str
    description: str | None = None
    parameters: dict[str, JsonValue] = Field(default_factory=dict)


class Tool(_OpenAi):
    """A tool offered to the model."""

    type: Literal["function"] = "function"
    function: ToolFunction


class ChatRequest(_OpenAi):
    """The OpenAI chat.completions.create payload that asked for the decision."""

    model: str = Field(description="The model asked, or rules-<policy version> for rules alone.")
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: JsonValue = None
    temperature: float | None = None
    max_tokens: int | None = None


class Choice(_OpenAi):
    """One completion choice."""

    index: int = 0
    message: ChatMessage
    finish_reason: str | None = Field(
        default=None, description="stop, tool_calls, length or content_filter."
    )


class PromptTokensDetails(_OpenAi):
    """Prompt tokens read from the provider's cache."""

    cached_tokens: int = Field(default=0, ge=0)


class Usage(_OpenAi):
    """Tokens the answer cost (zero for a rules-only decision)."""

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    prompt_tokens_details: PromptTokensDetails | None = None


class ChatResponse(_OpenAi):
    """The OpenAI chat completion that carried the decision."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(description="Epoch seconds.")
    model: str
    choices: list[Choice] = Field(min_length=1)
    usage: Usage = Field(default_factory=Usage)


class RecordMetadata(_Strict):
    """Everything about the decision that is not the exchange itself."""

    schema_version: Literal[1] = 1
    record_id: str = Field(description="UUID; equal for every copy of one decision (dedup key).")
    lead_id: str | None = None
    outcome: str | None = Field(
        default=None, description="What the run did, e.g. routed, written, suggested, recorded."
    )
    source: RecordSource | None = Field(
        default=None, description="Who decided: rules, llm, degraded (rules, LLM down), person."
    )
    policy_version: str | None = None
    latency_ms: float | None = Field(default=None, ge=0, description="The workload's run time.")
    event_id: str | None = None
    replay_id: str | None = None
    attempt: int = Field(default=1, ge=1)
    owner: str | None = Field(default=None, description="lead.route: the owner the lead has.")
    blocked: str | None = Field(
        default=None, description="outreach.template_suggest: why the email was not sent."
    )
    llm_provider: str | None = Field(
        default=None, description="anthropic or offline when a model answered; else null."
    )
    decision: dict[str, JsonValue] | None = Field(
        default=None, description="The decision's fields (see the module docstring per workload)."
    )


class FlywheelRecord(_Strict):
    """One decision as the flywheel stores it (the seed's format)."""

    timestamp: RecordTimestamp
    client_id: str = Field(min_length=1)
    workload_id: WorkloadId
    request: ChatRequest
    response: ChatResponse
    metadata: RecordMetadata

    @property
    def record_id(self) -> str:
        """The record's dedup key."""
        return self.metadata.record_id

    def to_json_line(self) -> str:
        """The record as one JSONL line (no newline)."""
        return self.model_dump_json(exclude_none=False)


def record_json_schema() -> str:
    """The JSON Schema of a record, as docs/flywheel_record.schema.json holds it."""
    schema = FlywheelRecord.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://leadfleet.dev/schemas/flywheel_record.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def record_id_for(workload_id: str, *parts: str | None) -> str:
    """A UUID naming one decision: the same workload and identity parts give the same id."""
    name = "\x1f".join([workload_id, *("" if part is None else part for part in parts)])
    return str(uuid.uuid5(_RECORD_NAMESPACE, name))


def route_record_id(lead_id: str) -> str:
    """The record id of a lead's routing decision (a lead is routed once)."""
    return record_id_for(ROUTE_WORKLOAD, "lead", lead_id)


def rules_model(policy_version: str | None) -> str:
    """The model name a rules-only record carries."""
    return f"rules-{policy_version or 'unknown'}"


def to_record(raw: Mapping[str, Any], *, client_id: str | None = None) -> FlywheelRecord:
    """The record of what a workload passed to its sink (see shared.flywheel.builder)."""
    # Imported here: the builder imports this module; readers of records import only this one.
    from shared.flywheel.builder import to_record as build

    return build(raw, client_id=client_id)
