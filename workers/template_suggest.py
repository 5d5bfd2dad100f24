"""outreach.template_suggest: choose and fill a lead's outreach template, and send it when enabled.

Gather: the LLM's intent and template (the offline provider answers when no key is set; a
down LLM leaves the keyword rules to decide, marked degraded). Decide: ``decide_suggestion``,
the sandboxed fill with the LLM's suggested values for variables the lead lacks. Apply:
Suggested_Template__c; then, only when sending is on:

- the lead is re-read right before sending: no email to an opted-out, bounced or address-less lead;
- no email when the org's SingleEmail remaining (from /limits, cached briefly) is spent;
- at most one email per lead: the send claim is taken BEFORE the send and never taken twice.
  A claim left ``sending`` by a run that died is resolved from Salesforce, which logs every
  email it sends on the lead in the same transaction: once the claim is older than
  ``send_confirm_after_seconds``, an outgoing email on the lead means it was sent (blocked as
  ``duplicate``), none means the send never reached Salesforce and this run may send. With
  ``send_confirm_after_seconds`` 0 an unfinished claim blocks for good (strictly at most once).
  A send Salesforce definitely refused (a 4xx, a row lock, a 503/429, a local rate limit) releases
  the claim; a send whose outcome is unknown (a timeout, a 500) keeps it for that check.

leadfleet's own email is dropped by the listener as an echo, so after a send this workload
records the lead's first touch itself.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.errors import LeadfleetError, PermanentError
from shared.flywheel.builder import RECORD_LEAD_FIELDS
from shared.intent import IntentGuess, detect_intent
from shared.llm.port import LlmExchange, TemplateAnswer
from shared.models import Lead, TemplateSuggestion
from shared.ratelimit import RateLimitedError, RateLimitStorageError
from shared.salesforce.errors import (
    EmailBouncedError,
    EmailOptedOutError,
    RequestLimitExceededError,
    RowLockError,
    ServerError,
    SessionExpiredError,
    SingleEmailLimitError,
)
from shared.templates import TemplateCatalog, decide_template, variables_for
from workers.deps import Deps
from workers.first_touch import detect_first_touch
from workers.idempotency import ClaimBusyError, ClaimState

__all__ = [
    "BlockedReason",
    "TemplateOutcome",
    "decide_suggestion",
    "suggest_template",
]

WORKLOAD = "outreach.template_suggest"
SUGGESTION_LIMIT = 255
SEND_FIELDS = ("Email", "HasOptedOutOfEmail", "EmailBouncedDate")
SINGLE_EMAIL = "SingleEmail"

BlockedReason = Literal[
    "opted_out", "bounced", "no_email", "no_single_email_remaining", "duplicate"
]


class TemplateOutcome(BaseModel):
    """What a template run did: suggested only, sent, or blocked a send and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    outcome: Literal["suggested", "sent", "blocked"]
    blocked: BlockedReason | None = None
    suggestion: TemplateSuggestion


def decide_suggestion(
    lead: Lead, catalog: TemplateCatalog, answer: TemplateAnswer | None, *, degraded: bool
) -> TemplateSuggestion:
    """The LLM's intent when it answered, the keyword rules otherwise; raises on an unfillable gap."""
    if answer is None:
        return decide_template(
            lead, catalog, detect_intent(lead), source="degraded" if degraded else "rules"
        )
    own = variables_for(lead)
    # The model may fill a gap, never replace what the lead itself says.
    extra = {k: v for k, v in answer.variable_suggestions.items() if k not in own}
    guess = IntentGuess(intent=answer.intent, confidence=answer.confidence, matched=[])
    return decide_template(lead, catalog, guess, source="llm", extra=extra)


def _gather_answer(deps: Deps, lead: Lead) -> tuple[TemplateAnswer | None, bool]:
    try:
        answer = deps.llm.choose_template(
            lead, deps.templates, timeout=deps.config.llm_timeout_seconds
        )
    except (RateLimitedError, RateLimitStorageError):
        # Over the fleet's LLM limit: wait for room rather than suggest worse templates.
        raise
    except LeadfleetError:
        # The LLM is down, refused or answered out of bounds: the keyword rules decide.
        return None, True
    return answer, False


def _single_email_remaining(deps: Deps) -> int | None:
    """The org's SingleEmail remaining, from a fleet-wide cache refreshed from /limits."""
    key = f"{deps.config.key_prefix}:salesforce:limits:{SINGLE_EMAIL}"
    cached = deps.redis.get(key)
    if isinstance(cached, bytes | str):
        return int(cached)
    remaining = deps.salesforce.limits().remaining(SINGLE_EMAIL)
    ttl = deps.config.limits_cache_seconds
    if remaining is not None and ttl > 0:
        deps.redis.set(key, remaining, px=max(int(ttl * 1000), 1))
    return remaining


def _spend_single_email(deps: Deps) -> None:
    key = f"{deps.config.key_prefix}:salesforce:limits:{SINGLE_EMAIL}"
    if deps.redis.exists(key):
        deps.redis.decr(key)


def _definitely_not_sent(error: BaseException) -> bool:
    """Whether Salesforce (or the fleet) refused the send before any email could go out."""
    if isinstance(error, RateLimitedError | RateLimitStorageError | PermanentError):
        return True
    if isinstance(error, RowLockError | RequestLimitExceededError | SessionExpiredError):
        return True
    return isinstance(error, ServerError) and error.status in (429, 503)


def _send(deps: Deps, lead_id: str, suggestion: TemplateSuggestion) -> BlockedReason | None:
    """Send the suggestion once; the reason it was not sent, or None when it was."""
    lead = deps.salesforce.get_lead(lead_id, SEND_FIELDS)
    if lead.HasOptedOutOfEmail:
        return "opted_out"
    if lead.EmailBouncedDate is not None:
        return "bounced"
    if not lead.Email:
        return "no_email"
    remaining = _single_email_remaining(deps)
    if remaining is not None and remaining <= 0:
        return "no_single_email_remaining"
    token = uuid.uuid4().hex
    now = time.time()
    claim = deps.send_claims.claim(lead_id, token, now)
    if claim.state is ClaimState.DONE:
        return "duplicate"
    if claim.state is ClaimState.BUSY:
        confirm_after = deps.config.send_confirm_after_seconds
        if confirm_after <= 0 or claim.held is None:
            return "duplicate"
        if claim.age_seconds < confirm_after:
            raise ClaimBusyError(f"email send to lead {lead_id}", confirm_after - claim.age_seconds)
        if deps.salesforce.earliest_outgoing_email(lead_id) is not None:
            deps.send_claims.mark_sent(lead_id, now)
            return "duplicate"
        if not deps.send_claims.take_over(lead_id, claim.held, token, now):
            raise ClaimBusyError(f"email send to lead {lead_id}", 1.0)
    try:
        deps.salesforce.send_simple_email(
            lead_id=lead_id,
            to_address=lead.Email,
            subject=suggestion.subject,
            body=suggestion.body,
        )
    except BaseException as exc:
        if _definitely_not_sent(exc):
            deps.send_claims.release(lead_id, token)
        if isinstance(exc, EmailOptedOutError):
            return "opted_out"
        if isinstance(exc, EmailBouncedError):
            return "bounced"
        if isinstance(exc, SingleEmailLimitError):
            return "no_single_email_remaining"
        raise
    deps.send_claims.mark_sent(lead_id, time.time())
    _spend_single_email(deps)
    return None


def suggest_template(
    deps: Deps,
    lead: Lead,
    *,
    send: bool | None = None,
    event_id: str | None = None,
    attempt: int = 1,
) -> TemplateOutcome:
    """Suggest (and, when sending is on, send once) the lead's outreach template."""
    started = time.monotonic()
    lead_id = str(lead.Id)
    answer, degraded = _gather_answer(deps, lead)
    suggestion = decide_suggestion(lead, deps.templates, answer, degraded=degraded)
    deps.salesforce.update_lead(
        lead_id, {"Suggested_Template__c": suggestion.template_id[:SUGGESTION_LIMIT]}
    )
    outcome = TemplateOutcome(lead_id=lead_id, outcome="suggested", suggestion=suggestion)
    if deps.config.send_email if send is None else send:
        blocked = _send(deps, lead_id, suggestion)
        if blocked is None:
            outcome = outcome.model_copy(update={"outcome": "sent"})
        else:
            outcome = outcome.model_copy(update={"outcome": "blocked", "blocked": blocked})
        if blocked in (None, "duplicate"):
            # The listener drops our own email as an echo; a duplicate run finishes the job
            # in case the run that sent died before recording it.
            detect_first_touch(deps, lead_id=lead_id, attempt=attempt)
    _record(deps, lead, outcome, answer.exchange if answer else None, event_id, attempt, started)
    return outcome


def _record(
    deps: Deps,
    lead: Lead,
    outcome: TemplateOutcome,
    exchange: LlmExchange | None,
    event_id: str | None,
    attempt: int,
    started: float,
) -> None:
    suggestion = outcome.suggestion
    record: dict[str, Any] = {
        "timestamp": deps.clock().isoformat(),
        "client_id": deps.config.client_id,
        "workload_id": WORKLOAD,
        "lead_id": outcome.lead_id,
        "event_id": event_id,
        "attempt": attempt,
        "outcome": outcome.outcome,
        "blocked": outcome.blocked,
        "source": suggestion.source,
        "policy_version": deps.templates.version,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
        # The filled body stays out: the record keeps the choice, not the email text.
        "decision": suggestion.model_dump(mode="json", exclude={"body"}),
        "llm_exchange": exchange.model_dump(mode="json") if exchange else None,
        "lead": lead.model_dump(mode="json", include=set(RECORD_LEAD_FIELDS)),
    }
    deps.flywheel.append(record)
