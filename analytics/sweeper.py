"""The SLA sweeper: leads past their segment's SLA with no first response are found, alerted on,
and (when enabled) handed to the policy's overflow queue.

Gather: unconverted leads with no First_Response_At__c created between the lookback and the
shortest SLA ago. Decide (`decide_sweep`, pure, `now` passed in): a lead's segment comes from
its employee count and the policy; a lead no segment holds is measured against the most
lenient SLA, so a missing count never makes a lead look late. A lead is overdue once its age
exceeds its SLA. It is re-routed only when re-routing is on and its owner is not the overflow
queue already (the overflow queue is never one rep, so a lead never goes back to the rep who
let it wait). Apply: the open findings replace the previous ones in Redis (reports and
`leadfleet status` read them), a new finding alerts once, and a re-route PATCHes OwnerId
through the client (its usual headers: no assignment rules, marked as leadfleet's own write)
guarded by If-Unmodified-Since, so a person's edit in between wins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from redis import Redis

from analytics.alerts import AlertBook, AlertNotifier, sla_alerts
from shared.countries import normalize_country
from shared.policy import RoutingPolicy
from shared.routing import parse_employee_count
from shared.salesforce.errors import NotFoundError, StaleRecordError
from shared.salesforce.port import LeadRecord, SalesforcePort
from shared.settings import AnalyticsSettings

__all__ = [
    "FindingsStore",
    "Reroute",
    "SlaFinding",
    "SweepDecision",
    "SweepOutcome",
    "decide_sweep",
    "sweep",
    "sweep_window",
]

log = logging.getLogger("analytics.sweeper")

REASON_LIMIT = 255


class SlaFinding(BaseModel):
    """A lead past its SLA with no first response, as the sweeper found it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    owner: str | None
    segment: str | None
    region: str | None
    created_at: AwareDatetime
    sla_hours: float
    minutes_waiting: float
    found_at: AwareDatetime


class Reroute(BaseModel):
    """Move a lead to the overflow queue, unless it changed since it was read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: str
    from_owner: str | None
    to_owner: str
    if_unmodified_since: AwareDatetime | None
    reason: str


class SweepDecision(BaseModel):
    """What one sweep found and what it will change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    findings: list[SlaFinding]
    reroutes: list[Reroute]


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did."""

    checked: int
    overdue: int
    rerouted: int
    skipped: int
    alerted: int


def _segment(lead: LeadRecord, policy: RoutingPolicy) -> str | None:
    count, _ = parse_employee_count(lead.NumberOfEmployees)
    return policy.segment_for(count) if count is not None else None


def _region(lead: LeadRecord, policy: RoutingPolicy) -> str | None:
    country = normalize_country(lead.Country)
    return policy.region_for(country.alpha_2) if country else None


def sweep_window(
    policy: RoutingPolicy, settings: AnalyticsSettings, now: datetime
) -> tuple[datetime, datetime]:
    """[after, before): leads younger than the shortest SLA cannot be late yet."""
    shortest = min(segment.sla_hours for segment in policy.segments.values())
    return now - timedelta(hours=settings.sla_sweep_lookback_hours), now - timedelta(hours=shortest)


def decide_sweep(
    leads: Iterable[LeadRecord], policy: RoutingPolicy, *, now: datetime, reroute: bool
) -> SweepDecision:
    """The overdue leads among those read, and the re-routes to make (see the module rules)."""
    lenient = max(segment.sla_hours for segment in policy.segments.values())
    overflow = policy.queues.overflow
    findings: list[SlaFinding] = []
    reroutes: list[Reroute] = []
    for lead in leads:
        if lead.Id is None or lead.CreatedDate is None or lead.First_Response_At__c is not None:
            continue
        segment = _segment(lead, policy)
        sla_hours = policy.segments[segment].sla_hours if segment else lenient
        waited = (now - lead.CreatedDate).total_seconds() / 60.0
        if waited <= sla_hours * 60.0:
            continue
        findings.append(
            SlaFinding(
                lead_id=lead.Id,
                owner=lead.OwnerId,
                segment=segment,
                region=_region(lead, policy),
                created_at=lead.CreatedDate,
                sla_hours=sla_hours,
                minutes_waiting=round(waited, 2),
                found_at=now,
            )
        )
        if reroute and lead.OwnerId != overflow:
            reason = (
                f"SLA sweeper: no response {waited:.0f} min after creation, past the "
                f"{sla_hours:g} h SLA of {segment or 'an unknown segment'}; moved from "
                f"{lead.OwnerId or 'no owner'} to the overflow queue"
            )
            reroutes.append(
                Reroute(
                    lead_id=lead.Id,
                    from_owner=lead.OwnerId,
                    to_owner=overflow,
                    if_unmodified_since=lead.LastModifiedDate,
                    reason=reason[:REASON_LIMIT],
                )
            )
    return SweepDecision(findings=findings, reroutes=reroutes)


class FindingsStore:
    """The sweeper's open findings, one Redis hash ``<prefix>:sla:unanswered`` replaced per sweep."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self.key = f"{prefix}:sla:unanswered"

    def replace(self, findings: Sequence[SlaFinding]) -> set[str]:
        """Make these the open findings; returns the lead ids that were not open before."""
        before = {
            k.decode() if isinstance(k, bytes) else str(k) for k in self._redis.hkeys(self.key)
        }
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            if findings:
                pipe.hset(self.key, mapping={f.lead_id: f.model_dump_json() for f in findings})
            pipe.execute()
        return {f.lead_id for f in findings} - before

    def all(self) -> list[dict[str, Any]]:
        """Every open finding as a JSON object, oldest lead first."""
        rows = [json.loads(v) for v in self._redis.hvals(self.key)]
        return sorted(rows, key=lambda r: (str(r.get("created_at")), str(r.get("lead_id"))))


def sweep(
    salesforce: SalesforcePort,
    policy: RoutingPolicy,
    settings: AnalyticsSettings,
    *,
    findings: FindingsStore,
    book: AlertBook,
    notifier: AlertNotifier,
    clock: Callable[[], datetime],
) -> SweepOutcome:
    """Gather unanswered leads, decide which are overdue, store, alert and re-route them."""
    now = clock()
    after, before = sweep_window(policy, settings, now)
    leads = salesforce.unanswered_leads(
        created_after=after, created_before=before, limit=settings.sla_sweep_batch
    )
    decision = decide_sweep(leads, policy, now=now, reroute=settings.sla_sweep_reroute)
    findings.replace(decision.findings)
    found = sla_alerts(
        [
            (f.lead_id, f.segment or "unsegmented", f.minutes_waiting, f.sla_hours)
            for f in decision.findings
        ],
        now=now,
    )
    book.record_open(found, checked=["sla_unanswered"])
    # A lead still waiting after the cooldown is alerted again, as a reminder.
    admitted = book.admit(found)
    notifier.send(admitted)
    rerouted = skipped = 0
    for move in decision.reroutes:
        try:
            salesforce.update_lead(
                move.lead_id,
                {
                    "OwnerId": move.to_owner,
                    "Owner_Assigned_At__c": now,
                    "Routing_Reason__c": move.reason,
                },
                if_unmodified_since=move.if_unmodified_since,
            )
        except (StaleRecordError, NotFoundError):
            # Someone acted on the lead since it was read (or deleted it): their change stands;
            # the next sweep reads it again.
            skipped += 1
            continue
        rerouted += 1
    outcome = SweepOutcome(
        checked=len(leads),
        overdue=len(decision.findings),
        rerouted=rerouted,
        skipped=skipped,
        alerted=len(admitted),
    )
    log.info(
        "sla sweep",
        extra={
            "workload": "lead.sla_sweep",
            "outcome": "swept",
            "checked": outcome.checked,
            "overdue": outcome.overdue,
            "rerouted": outcome.rerouted,
            "skipped": outcome.skipped,
            "alerted": outcome.alerted,
        },
    )
    return outcome
