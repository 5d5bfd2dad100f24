"""lead.first_touch_detect: find a lead's first response and write its time to first response.

Gather: the lead id (an UPDATE event lacks WhoId, so the Task or EmailMessage is read), the
lead (CreatedDate, stored First_Response_At__c, Country and size for region and SLA), its
earliest completed Task and earliest outgoing EmailMessage. Decide: ``decide_first_touch`` in
the business hours of the lead's region (from the routing policy via Country; the default
hours otherwise). Apply: the five First_Response fields, only when the decision says the
response is earlier than what is stored.

Runs for one lead are serialised by a short lease, and the write carries If-Unmodified-Since
(the lead's LastModifiedDate as read): a run that read before another run's write gets 412,
re-reads and decides again, so a later response can never overwrite an earlier one.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.countries import normalize_country
from shared.errors import RetryableError
from shared.messages import ResponseActivityMessage
from shared.models import FirstTouchDecision
from shared.routing import parse_employee_count
from shared.salesforce.errors import NotFoundError, StaleRecordError
from shared.salesforce.port import LeadRecord
from shared.ttfr import ResponseCandidate, decide_first_touch
from workers.deps import Deps
from workers.idempotency import ClaimBusyError

__all__ = ["FirstTouchOutcome", "detect_first_touch", "lead_id_of"]

WORKLOAD = "lead.first_touch_detect"
LEAD_FIELDS = (
    "CreatedDate",
    "First_Response_At__c",
    "OwnerId",
    "Country",
    "NumberOfEmployees",
)
_STALE_ROUNDS = 3


class FirstTouchOutcome(BaseModel):
    """What a first-touch run did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str | None
    outcome: Literal["written", "unchanged", "no_response", "not_on_lead", "not_found"]
    decision: FirstTouchDecision | None = None
    # The lead's owner, segment, region and CreatedDate, so analytics can slice TTFR by them.
    context: dict[str, str | None] = {}


def lead_id_of(deps: Deps, message: ResponseActivityMessage) -> str | None:
    """The lead the activity belongs to: from the event, or read from the record."""
    if message.lead_id:
        return message.lead_id
    if message.source == "Task":
        who = deps.salesforce.get_task(message.record_id).WhoId
    else:
        who = deps.salesforce.get_email_message(message.record_id).RelatedToId
    return who if who and who.startswith("00Q") else None


def _region_and_segment(deps: Deps, lead: LeadRecord) -> tuple[str | None, str | None]:
    """The lead's region and segment by the policy (None when unknown)."""
    country = normalize_country(lead.Country)
    region = deps.policy.region_for(country.alpha_2) if country else None
    count, _ = parse_employee_count(lead.NumberOfEmployees)
    segment = deps.policy.segment_for(count) if count is not None else None
    return region, segment


def _context(deps: Deps, lead: LeadRecord) -> dict[str, str | None]:
    region, segment = _region_and_segment(deps, lead)
    created = lead.CreatedDate.isoformat() if lead.CreatedDate else None
    return {"owner": lead.OwnerId, "segment": segment, "region": region, "lead_created_at": created}


def _decide(deps: Deps, lead: LeadRecord) -> FirstTouchDecision:
    lead_id = str(lead.Id)
    if lead.CreatedDate is None:
        raise RetryableError(f"lead {lead_id} was read without CreatedDate")
    candidates: list[ResponseCandidate] = []
    task = deps.salesforce.earliest_completed_task(lead_id)
    if task is not None:
        candidates.append(ResponseCandidate.from_task(task.model_dump()))
    email = deps.salesforce.earliest_outgoing_email(lead_id)
    if email is not None:
        candidates.append(ResponseCandidate.from_email(email.model_dump()))
    region, segment = _region_and_segment(deps, lead)
    sla = deps.policy.segments[segment].sla_hours if segment else None
    return decide_first_touch(
        lead_id=lead_id,
        created_at=lead.CreatedDate,
        stored_first_response_at=lead.First_Response_At__c,
        candidates=candidates,
        hours=deps.calendar.for_region(region),
        sla_hours=sla,
        now=deps.clock(),
    )


def _fields(decision: FirstTouchDecision) -> dict[str, object]:
    return {
        "First_Response_At__c": decision.first_response_at,
        "First_Response_User__c": decision.first_response_user,
        "First_Response_Source__c": decision.source,
        "Time_to_First_Response__c": decision.ttfr_minutes,
        "Business_Minutes_to_First_Response__c": decision.business_minutes,
    }


def detect_first_touch(
    deps: Deps,
    *,
    lead_id: str | None = None,
    message: ResponseActivityMessage | None = None,
    attempt: int = 1,
) -> FirstTouchOutcome:
    """Write the lead's first response if it is earlier than the stored one."""
    started = time.monotonic()
    if lead_id is None and message is not None:
        lead_id = lead_id_of(deps, message)
    if lead_id is None:
        return FirstTouchOutcome(lead_id=None, outcome="not_on_lead")
    token = uuid.uuid4().hex
    wait = deps.first_touch_leases.acquire(lead_id, token)
    if wait is not None:
        raise ClaimBusyError(f"first touch of lead {lead_id}", wait)
    try:
        outcome = _detect(deps, lead_id)
    finally:
        deps.first_touch_leases.release(lead_id, token)
    _record(deps, outcome, message, attempt, started)
    return outcome


def _detect(deps: Deps, lead_id: str) -> FirstTouchOutcome:
    for _ in range(_STALE_ROUNDS):
        try:
            lead = deps.salesforce.get_lead(lead_id, LEAD_FIELDS)
        except NotFoundError:
            return FirstTouchOutcome(lead_id=lead_id, outcome="not_found")
        decision = _decide(deps, lead)
        if not decision.should_write:
            kind: Literal["unchanged", "no_response"] = (
                "no_response" if decision.first_response_at is None else "unchanged"
            )
            return FirstTouchOutcome(
                lead_id=lead_id, outcome=kind, decision=decision, context=_context(deps, lead)
            )
        try:
            deps.salesforce.update_lead(
                lead_id, _fields(decision), if_unmodified_since=lead.LastModifiedDate
            )
        except StaleRecordError:
            continue
        return FirstTouchOutcome(
            lead_id=lead_id, outcome="written", decision=decision, context=_context(deps, lead)
        )
    raise RetryableError(f"lead {lead_id} changed on each of {_STALE_ROUNDS} writes")


def _record(
    deps: Deps,
    outcome: FirstTouchOutcome,
    message: ResponseActivityMessage | None,
    attempt: int,
    started: float,
) -> None:
    decision = outcome.decision
    record: dict[str, Any] = {
        "timestamp": deps.clock().isoformat(),
        "client_id": deps.config.client_id,
        "workload_id": WORKLOAD,
        "lead_id": outcome.lead_id,
        "event_id": message.event_id if message else None,
        "attempt": attempt,
        "outcome": outcome.outcome,
        "source": "rules",
        "policy_version": deps.policy.version,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
        "decision": {**decision.model_dump(mode="json"), **outcome.context} if decision else None,
        "llm_exchange": None,
    }
    deps.flywheel.append(record)
