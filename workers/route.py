"""lead.route: give a new lead its owner, once, from the event's snapshot of the record.

Gather: the lead from the message's field snapshot (no read for routing data); the owner of an
existing Account matched by the lead's email domain (free-mail domains never match); the LLM's
verdict when the rules are unsure (or always_ask), waited for at most the routing budget.
Decide: ``decide_route``, with the pool's counts read and updated atomically in Redis.
Apply: PATCH OwnerId, Routing_Reason__c, Routing_Confidence__c and Owner_Assigned_At__c with
If-Unmodified-Since set to the event's commit time (the client adds Sforce-Auto-Assign: FALSE
and the Call Options client, so the org's rules do not override and the listener drops the echo).

Routed once, and never lost:

1. The run claims ``route:<lead>`` (SET NX with a lease) before deciding. A claim marked done
   means the lead is routed: nothing to do. A live claim of another run means wait and retry.
2. After the write it marks the claim done. A run that fails releases its claim, so its retry
   claims again at once; a run that dies leaves the claim to lapse with its lease.
3. A retry after a write whose run died (or whose answer was lost) cannot write a second owner:
   its PATCH still carries the event's commit time, Salesforce answers 412 because the first
   write changed the lead, and the re-read shows an OwnerId different from the snapshot's, which
   this run keeps. The same 412 protects a person's change: an owner they set is kept and
   recorded. A 412 for any other change means re-decide on the re-read lead and write again.
4. A lead is never lost: every failure leaves either a done mark or no live claim, and the
   message is retried (or dead-lettered for a person) by the task.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.errors import LeadfleetError, RetryableError
from shared.flywheel.builder import RECORD_LEAD_FIELDS
from shared.llm.port import LlmExchange
from shared.messages import LeadCreatedMessage
from shared.models import AccountOwnerMatch, Lead, RoutingDecision
from shared.routing import LlmRoutingVerdict, PoolState, decide_route, rules_are_unsure
from shared.salesforce.errors import NotFoundError, StaleRecordError
from workers.deps import Deps
from workers.idempotency import ClaimBusyError, ClaimState

__all__ = [
    "FREE_MAIL_DOMAINS",
    "RouteOutcome",
    "email_domain",
    "lead_from_snapshot",
    "route_lead",
]

WORKLOAD = "lead.route"
REASON_LIMIT = 255
_STALE_ROUNDS = 3

# Addresses at these domains say nothing about the company, so they never match an Account.
FREE_MAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "googlemail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "hotmail.co.uk",
        "hotmail.com",
        "hotmail.fr",
        "icloud.com",
        "live.com",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "naver.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "rediffmail.com",
        "web.de",
        "yahoo.co.jp",
        "yahoo.co.uk",
        "yahoo.com",
        "yahoo.fr",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "163.com",
        "126.com",
    }
)


class RouteOutcome(BaseModel):
    """What a routing run did: routed, found the lead routed already, kept a person's owner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    outcome: Literal["routed", "duplicate", "owner_kept", "not_found"]
    owner: str | None = None
    decision: RoutingDecision | None = None

    @property
    def chains_template(self) -> bool:
        """Whether the lead should get its template suggestion (it has an owner)."""
        return self.outcome in ("routed", "duplicate", "owner_kept")


def email_domain(email: str | None) -> str | None:
    """The company domain of an email address; None for free-mail or malformed addresses."""
    if not email or email.count("@") != 1:
        return None
    domain = email.rsplit("@", 1)[1].strip().strip(".").lower()
    if not domain or "." not in domain or domain in FREE_MAIL_DOMAINS:
        return None
    return domain


def lead_from_snapshot(message: LeadCreatedMessage) -> Lead:
    """The lead as the CREATE event carried it (every field), with its record id."""
    return Lead.model_validate({**message.fields, "Id": message.record_id})


def _usable_account(match: AccountOwnerMatch | None) -> bool:
    return match is not None and match.owner_active and match.owner_id.startswith("005")


def _gather_account(deps: Deps, lead: Lead) -> AccountOwnerMatch | None:
    domain = email_domain(lead.Email)
    return None if domain is None else deps.salesforce.account_owner_by_domain(domain)


def _gather_llm(
    deps: Deps, lead: Lead
) -> tuple[LlmRoutingVerdict | None, bool, LlmExchange | None]:
    """The LLM's verdict within the routing budget; (None, True, None) when it is degraded."""
    budget = deps.config.routing_budget_seconds
    future = deps.llm_executor.submit(deps.llm.route, lead, deps.policy, timeout=budget)
    try:
        answer = future.result(timeout=budget)
    except FutureTimeout:
        future.cancel()
        return None, True, None
    except LeadfleetError:
        # Routing latency is the product's headline: a busy, refusing or broken LLM (or its
        # rate limit) never delays or blocks a lead; the rules decide.
        return None, True, None
    return answer.verdict, False, answer.exchange


def _decide(
    deps: Deps,
    lead: Lead,
    account: AccountOwnerMatch | None,
    verdict: LlmRoutingVerdict | None,
    degraded: bool,
    now: datetime,
) -> RoutingDecision:
    """decide_route, with pool counts from Redis when the lead lands in a pool."""

    def decide(state: PoolState) -> RoutingDecision:
        return decide_route(
            lead,
            deps.policy,
            pool_state=state,
            account_owner=account,
            llm=verdict,
            llm_degraded=degraded,
        )

    first = decide(PoolState())
    if first.segment is None or first.region is None or _usable_account(account):
        return first
    pool_key = deps.policy.owner_key(first.segment, first.region)
    pool = deps.policy.pools.get(pool_key)
    if pool is None:
        return first
    return deps.pools.decide_with_pool(
        lead_id=str(lead.Id), pool_key=pool_key, pool=pool, now=now, decide=decide
    )


def _fields(decision: RoutingDecision, now: datetime) -> dict[str, object]:
    return {
        "OwnerId": decision.owner,
        "Routing_Reason__c": decision.reason[:REASON_LIMIT],
        "Routing_Confidence__c": round(decision.confidence, 4),
        "Owner_Assigned_At__c": now,
    }


def _record(
    deps: Deps,
    message: LeadCreatedMessage,
    *,
    outcome: str,
    attempt: int,
    started: float,
    decision: RoutingDecision | None,
    owner: str | None,
    exchange: LlmExchange | None,
) -> None:
    record: dict[str, Any] = {
        "timestamp": deps.clock().isoformat(),
        "client_id": deps.config.client_id,
        "workload_id": WORKLOAD,
        "lead_id": message.record_id,
        "event_id": message.event_id,
        "replay_id": message.replay_id,
        "attempt": attempt,
        "outcome": outcome,
        "owner": owner,
        "source": decision.source if decision else None,
        "policy_version": deps.policy.version,
        "latency_ms": round((time.monotonic() - started) * 1000, 1),
        "decision": decision.model_dump(mode="json") if decision else None,
        "llm_exchange": exchange.model_dump(mode="json") if exchange else None,
        "lead": {name: message.fields.get(name) for name in RECORD_LEAD_FIELDS},
    }
    deps.flywheel.append(record)


def route_lead(deps: Deps, message: LeadCreatedMessage, *, attempt: int = 1) -> RouteOutcome:
    """Route one new lead exactly once (see the module docstring for how)."""
    started = time.monotonic()
    lead = lead_from_snapshot(message)
    lead_id = message.record_id
    token = uuid.uuid4().hex
    claim = deps.route_claims.claim(lead_id, token)
    if claim.state is ClaimState.DONE:
        return RouteOutcome(lead_id=lead_id, outcome="duplicate", owner=claim.owner)
    if claim.state is ClaimState.BUSY:
        raise ClaimBusyError(f"routing of lead {lead_id}", claim.retry_after)
    try:
        outcome, exchange = _route_claimed(deps, message, lead)
    except BaseException:
        deps.route_claims.release(lead_id, token)
        raise
    if outcome.owner is not None:
        deps.route_claims.mark_done(lead_id, outcome.owner)
    else:
        deps.route_claims.release(lead_id, token)
    _record(
        deps,
        message,
        outcome=outcome.outcome,
        attempt=attempt,
        started=started,
        decision=outcome.decision,
        owner=outcome.owner,
        exchange=exchange,
    )
    return outcome


def _route_claimed(
    deps: Deps, message: LeadCreatedMessage, lead: Lead
) -> tuple[RouteOutcome, LlmExchange | None]:
    """Gather, decide and write for a claimed lead; re-decide after a 412 on someone's edit."""
    lead_id = message.record_id
    snapshot_owner = lead.OwnerId
    since: datetime | None = message.commit_timestamp
    exchange: LlmExchange | None = None
    for _ in range(_STALE_ROUNDS):
        account = _gather_account(deps, lead)
        verdict, degraded = None, False
        if not _usable_account(account) and (
            deps.config.llm_always_ask or rules_are_unsure(lead, deps.policy)
        ):
            verdict, degraded, exchange = _gather_llm(deps, lead)
        now = deps.clock()
        decision = _decide(deps, lead, account, verdict, degraded, now)
        try:
            deps.salesforce.update_lead(lead_id, _fields(decision, now), if_unmodified_since=since)
        except StaleRecordError:
            try:
                fresh = deps.salesforce.get_lead(lead_id)
            except NotFoundError:
                return RouteOutcome(lead_id=lead_id, outcome="not_found"), exchange
            if fresh.OwnerId != snapshot_owner:
                # Someone set an owner after the event (a person, or this lead's earlier run
                # whose answer was lost): that owner stands.
                return (
                    RouteOutcome(lead_id=lead_id, outcome="owner_kept", owner=fresh.OwnerId),
                    exchange,
                )
            lead = Lead.model_validate(fresh.model_dump())
            since = fresh.LastModifiedDate
            continue
        except NotFoundError:
            return RouteOutcome(lead_id=lead_id, outcome="not_found"), exchange
        return (
            RouteOutcome(
                lead_id=lead_id, outcome="routed", owner=decision.owner, decision=decision
            ),
            exchange,
        )
    raise RetryableError(f"lead {lead_id} changed on each of {_STALE_ROUNDS} writes")
