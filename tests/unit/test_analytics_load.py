"""Records as the workloads write them (through the flywheel's to_record) load into the frames."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics.load import decode_lines, frames_from_lines
from shared.flywheel.record import to_record

AT = datetime(2025, 11, 1, 9, 0, 5, tzinfo=UTC)
LEAD = "00QLf0000000001AAA"
REP = "005Lf0000000001AAA"


def route_raw(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "timestamp": AT.isoformat(), "client_id": "c", "workload_id": "lead.route",
        "lead_id": LEAD, "event_id": "/data/LeadChangeEvent:00ff:0", "replay_id": "00ff",
        "attempt": 1, "outcome": "routed", "owner": REP, "source": "rules",
        "policy_version": "2025-06-01.1", "latency_ms": 12.5,
        "decision": {"lead_id": LEAD, "segment": "MM", "region": "EMEA", "owner": REP,
                     "owner_kind": "user", "reason": "MM in EMEA", "confidence": 0.92,
                     "source": "rules", "policy_version": "2025-06-01.1", "needs_review": False},
        "llm_exchange": None,
    }  # fmt: skip
    raw.update(overrides)
    return raw


def touch_raw() -> dict[str, Any]:
    return {
        "timestamp": "2025-11-01T09:40:00+00:00", "client_id": "c",
        "workload_id": "lead.first_touch_detect", "lead_id": LEAD, "event_id": "/data/TaskChangeEvent:01:0",
        "attempt": 1, "outcome": "written", "source": "rules", "policy_version": "2025-06-01.1",
        "latency_ms": 30.0,
        "decision": {"lead_id": LEAD, "first_response_at": "2025-11-01T09:35:00Z",
                     "first_response_user": "005Lf0000000002AAA", "source": "Task",
                     "source_record_id": "00TLf0000000001AAA", "ttfr_minutes": 35.0,
                     "business_minutes": 35.0, "should_write": True, "sla_hours": 8.0,
                     "breached_60_minutes": False, "breached_segment_sla": False, "reason": "r"},
        "llm_exchange": None,
    }  # fmt: skip


def template_raw() -> dict[str, Any]:
    return {
        "timestamp": "2025-11-01T09:00:09+00:00", "client_id": "c",
        "workload_id": "outreach.template_suggest", "lead_id": LEAD, "event_id": "e", "attempt": 1,
        "outcome": "blocked", "blocked": "opted_out", "source": "llm", "policy_version": "t1",
        "latency_ms": 800.0,
        "decision": {"lead_id": LEAD, "template_id": "pricing_inquiry", "intent": "pricing",
                     "confidence": 0.8, "subject": "s", "fallbacks_used": ["first_name"],
                     "source": "llm", "reason": "r"},
        "llm_exchange": None,
    }  # fmt: skip


def lines(*raws: dict[str, Any]) -> list[str]:
    return [to_record(raw).to_json_line() for raw in raws]


def test_workload_records_fill_the_frames() -> None:
    """Routing, first-touch and template rows carry the decision's fields; TTFR rows take the
    lead's routed owner, segment and region, and a CreatedDate derived from the TTFR."""
    frames = frames_from_lines(lines(route_raw(), touch_raw(), template_raw()))
    route = frames.routing.iloc[0]
    assert (route.lead_id, route.segment, route.region, route.owner, route.source) == (
        LEAD, "MM", "EMEA", REP, "rules",
    )  # fmt: skip
    assert route.confidence == 0.92
    touch = frames.ttfr.iloc[0]
    assert (touch.owner, touch.segment, touch.region, touch.responder) == (
        REP, "MM", "EMEA", "005Lf0000000002AAA",
    )  # fmt: skip
    assert touch.created_at.to_pydatetime() == datetime(2025, 11, 1, 9, 0, tzinfo=UTC)
    template = frames.templates.iloc[0]
    assert (template.template_id, template.blocked_reason, bool(template.sent)) == (
        "pricing_inquiry", "opted_out", False,
    )  # fmt: skip
    assert template.fallbacks_used == 1


def test_redelivered_copies_and_no_op_runs_are_not_counted() -> None:
    """A retried routing (same record_id) counts once; a 'duplicate' run of routing counts not."""
    later = route_raw(timestamp="2025-11-01T09:05:00+00:00", attempt=2)
    duplicate = route_raw(outcome="duplicate", decision=None, event_id="other-event")
    frames = frames_from_lines(lines(later, route_raw(), duplicate))
    assert len(frames.routing) == 1
    assert frames.routing.iloc[0].assigned_at.to_pydatetime() == AT


def test_torn_lines_are_skipped() -> None:
    """A half-written last line is not a record and does not stop the read."""
    good = lines(route_raw())[0]
    assert len(list(decode_lines([good, good[:40], "", "not json"]))) == 1
