"""The flywheel record: the seed's format, real exchanges kept verbatim, stable ids, a current schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shared.flywheel.record import (
    FlywheelRecord,
    record_json_schema,
    route_record_id,
    to_record,
)
from shared.llm.offline import OfflineProvider
from shared.models import Lead
from shared.policy import load_policy
from shared.settings import CONFIG_DIR
from shared.templates import load_templates

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "flywheel_record.schema.json"
POLICY = load_policy(CONFIG_DIR / "routing_policy.json")
TEMPLATES = load_templates(CONFIG_DIR / "templates.json")
LEAD = Lead(
    Id="00Q000000000001AAA",
    FirstName="Ada",
    LastName="Lovelace",
    Company="Analytical Engines",
    Email="ada@engines.example.com",
    Country="UK",
    NumberOfEmployees=420,
    Description="We want a demo",
)


def route_dict(**overrides: Any) -> dict[str, Any]:
    """What workers/route.py passes for a rules-only routing decision."""
    raw: dict[str, Any] = {
        "timestamp": "2026-03-02T09:00:00.123456+00:00",
        "client_id": "acme-prod",
        "workload_id": "lead.route",
        "lead_id": LEAD.Id,
        "event_id": "/data/LeadChangeEvent:0a:0",
        "replay_id": "0a",
        "attempt": 1,
        "outcome": "routed",
        "owner": "005000000000001AAA",
        "source": "rules",
        "policy_version": "2026-01",
        "latency_ms": 12.5,
        "decision": {
            "lead_id": LEAD.Id,
            "segment": "MidMarket",
            "region": "EMEA",
            "owner": "005000000000001AAA",
            "owner_kind": "user",
            "reason": "420 employees in GB",
            "confidence": 0.95,
            "source": "rules",
            "policy_version": "2026-01",
            "needs_review": False,
        },
        "llm_exchange": None,
        "lead": LEAD.model_dump(mode="json"),
    }
    raw.update(overrides)
    return raw


def test_a_model_answer_is_recorded_exactly_as_exchanged() -> None:
    """An LLM decision keeps the provider's OpenAI request (messages, tools) and tool-call reply."""
    answer = OfflineProvider().route(LEAD, POLICY, timeout=1.0)
    exchange = answer.exchange.model_dump(mode="json")

    record = to_record(route_dict(source="llm", llm_exchange=exchange))

    data = json.loads(record.to_json_line())
    assert data["request"]["messages"] == exchange["request"]["messages"]
    assert data["request"]["tools"] == exchange["request"]["tools"]
    assert data["response"]["choices"] == exchange["response"]["choices"]
    assert data["response"]["usage"] == exchange["response"]["usage"]
    assert data["metadata"]["llm_provider"] == "offline"


def test_a_template_answer_from_a_model_validates_as_a_record() -> None:
    """The template provider's exchange is a valid record too."""
    answer = OfflineProvider().choose_template(LEAD, TEMPLATES, timeout=1.0)

    record = to_record(
        route_dict(
            workload_id="outreach.template_suggest",
            outcome="suggested",
            source="llm",
            decision={"template_id": answer.template_id, "intent": answer.intent},
            llm_exchange=answer.exchange.model_dump(mode="json"),
        )
    )

    [choice] = record.response.choices
    assert choice.message.tool_calls and choice.message.tool_calls[0].function.name
    assert record.request.tools


def test_a_rules_decision_gets_a_synthetic_prompt_and_a_rules_model() -> None:
    """Rules alone: model rules-<policy version>, a user message of the inputs, a JSON answer."""
    record = to_record(route_dict())

    assert record.request.model == "rules-2026-01"
    assert record.response.model == "rules-2026-01"
    [message] = record.request.messages
    assert message.role == "user"
    assert message.content is not None
    assert "Analytical Engines" in message.content and "engines.example.com" in message.content
    # The inputs are what the rules read, not who the lead is.
    assert "Ada" not in message.content and "ada@" not in message.content
    answer = json.loads(str(record.response.choices[0].message.content))
    assert answer == {
        "segment": "MidMarket",
        "region": "EMEA",
        "owner": "005000000000001AAA",
        "confidence": 0.95,
        "outcome": "routed",
    }
    assert record.response.usage.total_tokens == 0


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-03-02T09:00:00.123456+00:00", "2026-03-02T09:00:00.123Z"),
        ("2026-03-02T09:00:00+00:00", "2026-03-02T09:00:00.000Z"),
        ("2026-03-02T10:00:00.5+01:00", "2026-03-02T09:00:00.500Z"),
        ("2026-03-02T09:00:00.999999Z", "2026-03-02T09:00:00.999Z"),
    ],
    ids=["micro-to-milli", "whole-second", "other-zone", "z-suffix"],
)
def test_timestamps_are_utc_with_milliseconds_and_z(given: str, expected: str) -> None:
    """Every record's timestamp reads the same way: UTC, milliseconds, Z."""
    line = json.loads(to_record(route_dict(timestamp=given)).to_json_line())
    assert line["timestamp"] == expected


def test_a_naive_timestamp_is_refused() -> None:
    """A time without a zone would be read differently by each reader."""
    with pytest.raises(ValueError, match="time zone"):
        to_record(route_dict(timestamp=datetime(2026, 3, 2, 9, 0)))


def test_a_record_read_back_equals_the_record_written() -> None:
    """JSONL out and back in loses nothing."""
    record = to_record(route_dict())
    assert FlywheelRecord.model_validate_json(record.to_json_line()) == record


def _rid(**overrides: Any) -> str:
    return to_record(route_dict(**overrides)).record_id


FT = "lead.first_touch_detect"
TS = "outreach.template_suggest"


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ({}, {"attempt": 3, "timestamp": "2026-03-02T09:05:00+00:00"}, True),
        ({}, {"outcome": "duplicate", "event_id": "/data/LeadChangeEvent:0b:0"}, True),
        ({}, {"lead_id": "00Q000000000002AAA"}, False),
        ({"workload_id": TS}, {"workload_id": TS, "attempt": 2}, True),
        ({"workload_id": TS}, {"workload_id": "lead.route"}, False),
        ({"workload_id": FT}, {"workload_id": FT, "attempt": 2}, True),
        ({"workload_id": FT}, {"workload_id": FT, "event_id": "/data/TaskChangeEvent:1:0"}, False),
        (
            {"workload_id": FT, "event_id": None, "decision": {"source_record_id": "00T1"}},
            {"workload_id": FT, "event_id": None, "decision": {"source_record_id": "00T1"}},
            True,
        ),
        (
            {"workload_id": FT, "event_id": None, "decision": {"source_record_id": "00T1"}},
            {"workload_id": FT, "event_id": None, "decision": {"source_record_id": "00T2"}},
            False,
        ),
    ],
    ids=[
        "route-retried",
        "route-redelivered-event",
        "route-other-lead",
        "template-retried",
        "other-workload",
        "first-touch-retried",
        "first-touch-other-activity",
        "first-touch-direct-same-response",
        "first-touch-direct-other-response",
    ],
)
def test_copies_of_a_decision_share_a_record_id(
    first: dict[str, Any], second: dict[str, Any], same: bool
) -> None:
    """Redelivered and retried copies of one decision share the id readers dedup on."""
    assert (_rid(**first) == _rid(**second)) is same


def test_the_routing_record_id_is_known_from_the_lead_alone() -> None:
    """Feedback names the routing record it corrects without looking it up."""
    assert _rid() == route_record_id(str(LEAD.Id))


def test_a_record_line_matches_the_published_schema() -> None:
    """docs/flywheel_record.schema.json describes the lines actually written."""
    schema = json.loads(SCHEMA_DOC.read_text(encoding="utf-8"))
    exchange = OfflineProvider().route(LEAD, POLICY, timeout=1.0).exchange
    for record in (
        to_record(route_dict()),
        to_record(route_dict(llm_exchange=exchange.model_dump(mode="json"))),
    ):
        jsonschema.validate(json.loads(record.to_json_line()), schema)


def test_the_schema_document_is_current() -> None:
    """The schema in docs/ is regenerated whenever the model changes (leadfleet flywheel schema)."""
    assert SCHEMA_DOC.read_text(encoding="utf-8") == record_json_schema()


def test_a_record_names_its_decision_time_not_its_write_time() -> None:
    """The record carries the workload's clock, so a late flush does not move decisions in time."""
    decided = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    record = to_record(route_dict(timestamp=decided.isoformat()))
    assert record.timestamp == decided.astimezone(UTC)


def test_an_exchange_not_in_openai_shape_keeps_the_decision_under_its_model_name() -> None:
    """The decision still counts; the record names the model and does not pretend to be rules."""
    broken = {"provider": "custom", "model": "custom-1", "request": {"x": 1}, "response": {}}

    record = to_record(route_dict(source="llm", llm_exchange=broken))

    assert record.request.model == "custom-1"
    assert record.metadata.llm_provider == "custom"
    assert record.metadata.decision is not None and record.metadata.decision["owner"]


def test_routing_records_carry_when_the_lead_was_created() -> None:
    """Analytics measures create-to-assign latency from the record alone."""
    lead = {**LEAD.model_dump(mode="json"), "CreatedDate": "2026-03-02T08:59:30.000+0000"}
    record = to_record(route_dict(lead=lead))
    assert record.metadata.decision is not None
    assert record.metadata.decision["lead_created_at"] == "2026-03-02T08:59:30.000Z"
