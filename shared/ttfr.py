"""Time to first response: which Task or EmailMessage first answered a lead, and the SLA verdict.

Rules, in the order a reader needs them:

- A response is a completed Task (Status 'Completed' or IsClosed) of Type Call, Email or
  Meeting, or an outgoing EmailMessage (Incoming false) that is not a draft (Status '5').
  Incoming mail, open tasks and other task types are activity, not answers.
- A Task happened at CompletedDateTime; without it at LastModifiedDate, which is never
  earlier than the completion, so a to-do logged at lead creation and done a day later cannot
  claim a response in seconds; CreatedDate only when neither is present. An EmailMessage
  happened at MessageDate, or CreatedDate when that is empty.
- The earliest response wins. At the same instant a Task beats an EmailMessage (the Task names
  the rep who did the work, and sending from Salesforce often logs both), then the lower id.
- A response dated before the lead's CreatedDate (clock skew, activity logged against a lead
  created afterwards) counts as 0 minutes.
- First_Response_At__c only moves earlier: a response is written when nothing is stored or it
  is strictly earlier than what is stored. When the stored value is earlier, it is the lead's
  first response and the minutes and SLA flags describe it.
- SLA flags compare calendar minutes with 60 and with the segment's sla_hours. A lead with no
  response is measured against `now`: still unanswered past the limit is a breach.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from shared.business_hours import RegionHours, business_minutes_between
from shared.errors import InvalidInputError
from shared.models import FirstTouchDecision, ResponseSource

RESPONSE_TASK_TYPES = frozenset({"call", "email", "meeting"})
SPEED_TO_LEAD_MINUTES = 60.0
_DRAFT_EMAIL_STATUS = "5"
_KIND_ORDER: dict[ResponseSource, int] = {"Task": 0, "EmailMessage": 1}


class ResponseCandidate(BaseModel):
    """A Task or EmailMessage on a lead, reduced to the facts that decide whether it answered."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: ResponseSource
    id: str
    occurred_at: AwareDatetime
    user_id: str | None = None
    status: str | None = None
    type: str | None = None
    is_closed: bool | None = None
    incoming: bool | None = None

    @classmethod
    def from_task(cls, record: Mapping[str, Any]) -> ResponseCandidate:
        """Build a candidate from a Task record with Salesforce REST field names."""
        return _build(
            "Task",
            record,
            ("CompletedDateTime", "LastModifiedDate", "CreatedDate"),
            user_id=record.get("OwnerId"),
            status=record.get("Status"),
            type=record.get("Type"),
            is_closed=record.get("IsClosed"),
        )

    @classmethod
    def from_email(cls, record: Mapping[str, Any]) -> ResponseCandidate:
        """Build a candidate from an EmailMessage record with Salesforce REST field names."""
        return _build(
            "EmailMessage",
            record,
            ("MessageDate", "CreatedDate"),
            user_id=record.get("CreatedById") or record.get("FromAddress"),
            status=record.get("Status"),
            incoming=record.get("Incoming"),
        )

    def describe(self) -> str:
        """A short human label such as 'Task 00T... (Call)'."""
        if self.kind == "Task":
            return f"Task {self.id} ({self.type or 'no type'})"
        return f"EmailMessage {self.id}"


def _build(
    kind: ResponseSource,
    record: Mapping[str, Any],
    date_fields: tuple[str, ...],
    **facts: Any,
) -> ResponseCandidate:
    """Validate a candidate dated by the first non-empty date field; InvalidInputError otherwise."""
    label = f"{kind} {record.get('Id') or '(no Id)'}"
    when = next((record[f] for f in date_fields if record.get(f) not in (None, "")), None)
    if when is None:
        raise InvalidInputError(f"{label}: no date (expected one of {', '.join(date_fields)})")
    try:
        return ResponseCandidate(kind=kind, id=record.get("Id"), occurred_at=when, **facts)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInputError(f"{label}: {fields}") from None


def non_response_reason(candidate: ResponseCandidate) -> str | None:
    """Why a candidate is not a response to the lead, or None when it is one."""
    if candidate.kind == "EmailMessage":
        if candidate.incoming is None:
            return "email of unknown direction"
        if candidate.incoming:
            return "incoming email"
        if candidate.status == _DRAFT_EMAIL_STATUS:
            return "draft email"
        return None
    if not (candidate.status == "Completed" or candidate.is_closed):
        return "open task"
    if (candidate.type or "").strip().lower() not in RESPONSE_TASK_TYPES:
        return "task type not Call, Email or Meeting"
    return None


def is_response(candidate: ResponseCandidate) -> bool:
    """Whether the candidate is a completed Call/Email/Meeting task or a sent outgoing email."""
    return non_response_reason(candidate) is None


def _earliest(responses: Iterable[ResponseCandidate]) -> ResponseCandidate | None:
    """The earliest response; same instant: Task before EmailMessage, then the lower id."""
    return min(
        responses,
        key=lambda c: (c.occurred_at, _KIND_ORDER[c.kind], c.id),
        default=None,
    )


def _require_aware(name: str, value: datetime | None) -> None:
    """Refuse naive datetimes: minutes between instants are meaningless without an offset."""
    if value is not None and value.tzinfo is None:
        raise InvalidInputError(f"{name} must carry a time zone offset")


def _skipped_summary(skipped: Counter[str]) -> str:
    """'2 incoming email, 1 open task' in a stable order."""
    return ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))


def decide_first_touch(
    *,
    lead_id: str,
    created_at: datetime,
    stored_first_response_at: datetime | None,
    candidates: Iterable[ResponseCandidate],
    hours: RegionHours,
    sla_hours: float | None,
    now: datetime,
) -> FirstTouchDecision:
    """The lead's first response, its calendar and business minutes, SLA flags and write verdict."""
    _require_aware("created_at", created_at)
    _require_aware("stored_first_response_at", stored_first_response_at)
    _require_aware("now", now)

    responses: list[ResponseCandidate] = []
    skipped: Counter[str] = Counter()
    for candidate in candidates:
        why_not = non_response_reason(candidate)
        if why_not is None:
            responses.append(candidate)
        else:
            skipped[why_not] += 1
    best = _earliest(responses)
    ignored = f"; ignored {_skipped_summary(skipped)}" if skipped else ""
    sla_minutes = sla_hours * 60.0 if sla_hours is not None else None

    known = [
        t for t in (stored_first_response_at, best.occurred_at if best else None) if t is not None
    ]
    if not known:
        waited = (now - created_at).total_seconds() / 60.0
        return FirstTouchDecision(
            lead_id=lead_id,
            first_response_at=None,
            first_response_user=None,
            source=None,
            source_record_id=None,
            ttfr_minutes=None,
            business_minutes=None,
            should_write=False,
            sla_hours=sla_hours,
            breached_60_minutes=waited > SPEED_TO_LEAD_MINUTES,
            breached_segment_sla=None if sla_minutes is None else waited > sla_minutes,
            reason=f"no response yet, {max(waited, 0.0):.2f} min since creation{ignored}",
        )

    first_at = min(known).astimezone(UTC)
    # A stored value equal to the best response is that response written by an earlier run.
    attributed = best if best is not None and best.occurred_at == first_at else None
    should_write = attributed is not None and (
        stored_first_response_at is None or first_at < stored_first_response_at
    )
    ttfr = round(max((first_at - created_at).total_seconds() / 60.0, 0.0), 2)
    business = round(business_minutes_between(created_at, first_at, hours), 2)
    timing = (
        f"{ttfr:.2f} min after creation ({business:.2f} business min)"
        if first_at >= created_at
        else "before the lead's CreatedDate, counted as 0 min"
    )
    return FirstTouchDecision(
        lead_id=lead_id,
        first_response_at=first_at,
        first_response_user=attributed.user_id if attributed else None,
        source=attributed.kind if attributed else None,
        source_record_id=attributed.id if attributed else None,
        ttfr_minutes=ttfr,
        business_minutes=business,
        should_write=should_write,
        sla_hours=sla_hours,
        breached_60_minutes=ttfr > SPEED_TO_LEAD_MINUTES,
        breached_segment_sla=None if sla_minutes is None else ttfr > sla_minutes,
        reason=_answered_reason(best, attributed, stored_first_response_at, first_at, timing)
        + ignored,
    )


def _answered_reason(
    best: ResponseCandidate | None,
    attributed: ResponseCandidate | None,
    stored: datetime | None,
    first_at: datetime,
    timing: str,
) -> str:
    """Say which response counts as first and why it is or is not written."""
    if attributed is None:
        kept = f"stored first response {first_at.isoformat()}, {timing},"
        if best is None:
            return f"no response among the records; {kept} stands: no write"
        later = f"{best.describe()} at {best.occurred_at.isoformat()}"
        return f"{kept} is earlier than {later}: no write"
    found = f"first response {attributed.describe()} at {first_at.isoformat()}, {timing}"
    if stored is None:
        return f"{found}; nothing stored: write"
    if first_at < stored:
        return f"{found}; earlier than stored {stored.isoformat()}: write"
    return f"{found}; already stored: no write"
