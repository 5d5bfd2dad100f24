"""Synthetic flywheel records for tests and the report benchmark, in the records' real shape.

Leads arrive through one UTC day; each is routed, most get a template suggestion, many a first
response, a few a person's reassignment. Values are drawn from a seeded generator, so a run
repeats, and the shape is the flywheel's (tests validate samples against FlywheelRecord).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = ["SEGMENTS", "synthetic_records"]

SEGMENTS: dict[str, float] = {"SMB": 24.0, "MM": 8.0, "Enterprise": 1.0}
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
OWNERS = tuple(f"005Lf0000{n:06d}AAA" for n in range(1, 13))
TEMPLATES = (
    ("pricing_inquiry", "pricing"),
    ("demo_request", "demo"),
    ("technical_question", "technical"),
    ("partnership", "partnership"),
    ("general_followup", "general"),
)
BLOCKED = ("opted_out", "bounced", "no_email", "no_single_email_remaining")
_NAMESPACE = uuid.UUID("0d9f7c7e-2b8e-4f5c-9c43-6c1c9d0f1a11")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _record(
    workload: str, moment: datetime, metadata: dict[str, Any], answer: str
) -> dict[str, Any]:
    model = "rules-synthetic"
    return {
        "timestamp": _stamp(moment),
        "client_id": "synthetic",
        "workload_id": workload,
        "request": {"model": model, "messages": [{"role": "user", "content": "synthetic"}]},
        "response": {
            "id": f"rules-{metadata['record_id']}",
            "object": "chat.completion",
            "created": int(moment.timestamp()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        },
        "metadata": {"schema_version": 1, "attempt": 1, "policy_version": "synthetic", **metadata},
    }


def _id(kind: str, index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{index}"))


def synthetic_records(count: int, *, day: date, seed: int = 7) -> Iterator[dict[str, Any]]:
    """About count records of one day's leads (routing, templates, first touches, feedback)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    produced = 0
    lead = 0
    while produced < count:
        lead += 1
        lead_id = f"00QSY{lead:010d}"
        created = start + timedelta(seconds=rng.uniform(0, 86000))
        segment = rng.choices(list(SEGMENTS), weights=(6, 3, 1))[0]
        region = rng.choice(REGIONS)
        owner = rng.choice(OWNERS)
        source = rng.choices(("rules", "llm", "degraded"), weights=(6, 3, 1))[0]
        confidence = round(rng.uniform(0.3, 1.0), 4)
        assigned = created + timedelta(seconds=rng.uniform(0.5, 20.0))
        decision = {
            "lead_id": lead_id,
            "segment": segment,
            "region": region,
            "owner": owner,
            "owner_kind": "user",
            "reason": "synthetic",
            "confidence": confidence,
            "source": source,
            "policy_version": "synthetic",
            "needs_review": False,
            "lead_created_at": _stamp(created),
        }
        meta: dict[str, Any] = {"record_id": _id("route", lead), "lead_id": lead_id}
        meta["outcome"] = "routed"
        meta.update(source=source, owner=owner, latency_ms=round(rng.uniform(5, 900), 1))
        yield _record("lead.route", assigned, {**meta, "decision": decision}, "{}")
        produced += 1
        if produced < count and rng.random() < 0.9:
            template_id, intent = rng.choice(TEMPLATES)
            outcome = rng.choices(("suggested", "sent", "blocked"), weights=(5, 4, 1))[0]
            suggestion = {
                "lead_id": lead_id,
                "template_id": template_id,
                "intent": intent,
                "confidence": round(rng.uniform(0.4, 1.0), 4),
                "subject": "synthetic",
                "fallbacks_used": ["first_name"] if rng.random() < 0.1 else [],
                "source": source,
                "reason": "synthetic",
            }
            meta = {"record_id": _id("template", lead), "lead_id": lead_id, "outcome": outcome}
            meta["blocked"] = rng.choice(BLOCKED) if outcome == "blocked" else None
            yield _record(
                "outreach.template_suggest",
                assigned + timedelta(seconds=2),
                {**meta, "source": source, "decision": suggestion},
                "{}",
            )
            produced += 1
        if produced < count and rng.random() < 0.75:
            minutes = round(rng.expovariate(1 / 45.0), 2)
            responded = created + timedelta(minutes=minutes)
            touch = {
                "lead_id": lead_id,
                "first_response_at": _stamp(responded),
                "first_response_user": owner,
                "source": "Task",
                "source_record_id": f"00TSY{lead:010d}",
                "ttfr_minutes": minutes,
                "business_minutes": round(minutes * rng.uniform(0.3, 1.0), 2),
                "should_write": True,
                "sla_hours": SEGMENTS[segment],
                "breached_60_minutes": minutes > 60,
                "breached_segment_sla": minutes > SEGMENTS[segment] * 60,
                "reason": "synthetic",
            }
            meta = {"record_id": _id("touch", lead), "lead_id": lead_id, "outcome": "written"}
            yield _record(
                "lead.first_touch_detect",
                responded + timedelta(seconds=1),
                {**meta, "source": "rules", "decision": touch},
                "{}",
            )
            produced += 1
        if produced < count and rng.random() < 0.03:
            new_owner = rng.choice([o for o in OWNERS if o != owner])
            feedback = {
                "old_owner": owner,
                "new_owner": new_owner,
                "changed_by": "005Lf0000999999AAA",
                "minutes_since_routing": 30.0,
                "routed_record_id": _id("route", lead),
                "routed_at": _stamp(assigned),
            }
            meta = {"record_id": _id("feedback", lead), "lead_id": lead_id, "outcome": "recorded"}
            yield _record(
                "lead.route.feedback",
                assigned + timedelta(minutes=30),
                {**meta, "source": "person", "decision": feedback},
                "{}",
            )
            produced += 1
