"""Feedback labels: a person reassigning a lead leadfleet routed says the routing was wrong.

Change events do not carry the previous owner, so the appender remembers each routed lead
(``<prefix>:flywheel:routed:<lead>``: the routing record's id, the owner and when) for as long
as feedback is wanted. The decision is pure: given what leadfleet routed and the change a person
made, a FeedbackDecision or the reason there is none.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from redis import Redis

from shared.flywheel.record import format_timestamp, route_record_id

__all__ = ["FeedbackDecision", "RoutedLead", "RoutedLeads", "decide_feedback"]

FeedbackOutcome = Literal["reassigned", "not_routed", "unchanged"]


class RoutedLead(BaseModel):
    """What leadfleet decided for a lead: the owner, when, and the routing record's id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    owner: str
    routed_at: AwareDatetime | None = None
    record_id: str


class FeedbackDecision(BaseModel):
    """A person's correction of a routing decision: the label the flywheel learns from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    outcome: FeedbackOutcome
    old_owner: str | None = Field(description="The owner leadfleet chose.")
    new_owner: str | None = Field(description="The owner the person chose.")
    changed_by: str | None = Field(default=None, description="The user who made the change.")
    changed_at: AwareDatetime
    routed_at: AwareDatetime | None = None
    minutes_since_routing: float | None = Field(
        default=None, description="From leadfleet's write to the person's change."
    )
    routed_record_id: str | None = Field(
        default=None, description="The record_id of the lead.route record it corrects."
    )

    @property
    def is_label(self) -> bool:
        """Whether the change corrects a routing decision (and so is recorded)."""
        return self.outcome == "reassigned"


def decide_feedback(
    *,
    lead_id: str,
    routed_owner: str | None,
    routed: RoutedLead | None,
    new_owner: str | None,
    changed_by: str | None,
    changed_at: datetime,
) -> FeedbackDecision:
    """Label an owner change: only a lead leadfleet routed, moved to someone else, is a label.

    routed_owner is the route claim's owner (None when leadfleet did not route the lead);
    routed adds when it was routed and the routing record's id, when still remembered.
    """
    if routed_owner is None:
        return FeedbackDecision(
            lead_id=lead_id,
            outcome="not_routed",
            old_owner=None,
            new_owner=new_owner,
            changed_by=changed_by,
            changed_at=changed_at,
        )
    routed_at = routed.routed_at if routed is not None and routed.owner == routed_owner else None
    minutes = None
    if routed_at is not None:
        minutes = round(max((changed_at - routed_at).total_seconds(), 0.0) / 60, 2)
    return FeedbackDecision(
        lead_id=lead_id,
        outcome="unchanged" if new_owner == routed_owner else "reassigned",
        old_owner=routed_owner,
        new_owner=new_owner,
        changed_by=changed_by,
        changed_at=changed_at,
        routed_at=routed_at,
        minutes_since_routing=minutes,
        # Routing records are named by their lead, so the id is known even when forgotten here.
        routed_record_id=routed.record_id if routed is not None else route_record_id(lead_id),
    )


class RoutedLeads:
    """The routed-lead memory in Redis, written by the appender and read by feedback."""

    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int = 30 * 86400) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def key(self, lead_id: str) -> str:
        """The memory key of a lead."""
        return f"{self._prefix}:flywheel:routed:{lead_id}"

    def remember(self, pipe: Any, routed: RoutedLead) -> None:
        """Queue the write of a routed lead on a pipeline (sent with the record's append)."""
        value = {
            "lead_id": routed.lead_id,
            "owner": routed.owner,
            "routed_at": format_timestamp(routed.routed_at) if routed.routed_at else None,
            "record_id": routed.record_id,
        }
        pipe.set(self.key(routed.lead_id), json.dumps(value), ex=self._ttl)

    def recall(self, lead_id: str) -> RoutedLead | None:
        """What was remembered of a lead's routing, or None."""
        raw = self._redis.get(self.key(lead_id))
        if raw is None:
            return None
        try:
            return RoutedLead.model_validate_json(raw if isinstance(raw, str | bytes) else str(raw))
        except ValidationError:
            return None
