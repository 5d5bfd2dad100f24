"""lead.route.feedback: a person moved a lead leadfleet routed to another owner; record the label.

Gather: leadfleet's owner from the lead's route claim (``done:<owner>``; no claim marked done
means leadfleet did not route the lead, and the change is ignored) and, from the flywheel's
routed-lead memory, when it was routed and the routing record's id. Decide:
``decide_feedback``. Apply: one flywheel record (workload ``lead.route.feedback``, source
``person``), nothing written to Salesforce. A change back to leadfleet's own owner is no label.
"""

from __future__ import annotations

import time
from typing import Any

from shared.flywheel.feedback import FeedbackDecision, RoutedLeads, decide_feedback
from shared.flywheel.record import FEEDBACK_WORKLOAD
from shared.messages import OwnerChangedMessage
from workers.deps import Deps

__all__ = ["record_feedback", "routed_owner"]

_DONE = "done:"


def routed_owner(deps: Deps, lead_id: str) -> str | None:
    """The owner leadfleet wrote for the lead, from its route claim; None if it did not route it."""
    raw = deps.redis.get(deps.route_claims.key(lead_id))
    value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    if isinstance(value, str) and value.startswith(_DONE):
        return value.removeprefix(_DONE) or None
    return None


def record_feedback(deps: Deps, message: OwnerChangedMessage, *, attempt: int = 1) -> str:
    """Record a person's reassignment of a routed lead; returns the decision's outcome."""
    started = time.monotonic()
    lead_id = message.record_id
    routed = RoutedLeads(deps.redis, deps.config.key_prefix)
    decision = decide_feedback(
        lead_id=lead_id,
        routed_owner=routed_owner(deps, lead_id),
        routed=routed.recall(lead_id),
        new_owner=message.new_owner_id,
        changed_by=message.commit_user or None,
        changed_at=message.commit_timestamp,
    )
    if decision.is_label:
        _record(deps, message, decision, attempt, started)
    return decision.outcome


def _record(
    deps: Deps,
    message: OwnerChangedMessage,
    decision: FeedbackDecision,
    attempt: int,
    started: float,
) -> None:
    record: dict[str, Any] = {
        "timestamp": deps.clock().isoformat(),
        "client_id": deps.config.client_id,
        "workload_id": FEEDBACK_WORKLOAD,
        "lead_id": decision.lead_id,
        "event_id": message.event_id,
        "replay_id": message.replay_id,
        "attempt": attempt,
        "outcome": decision.outcome,
        "owner": decision.new_owner,
        "source": "person",
        "policy_version": deps.policy.version,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
        "decision": decision.model_dump(mode="json"),
        "llm_exchange": None,
    }
    deps.flywheel.append(record)
