"""The fleet's tasks: validate the message, get the process's deps, run the workload, and turn
a failure into a retry or a dead letter. No decisions are made here.

Each task takes the queue message as JSON (its only positional argument, so a dead letter can
be replayed as it was) plus the counted failures so far and when the message was first seen.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import Task
from celery.exceptions import MaxRetriesExceededError
from redis.exceptions import RedisError

from shared.errors import LeadfleetError
from shared.flywheel.flusher import flush_configured
from shared.messages import (
    LeadCreatedMessage,
    OwnerChangedMessage,
    ResponseActivityMessage,
    TaskName,
)
from shared.settings import get_settings
from workers.app import app
from workers.deps import Deps, get_deps, utc_now
from workers.feedback import record_feedback
from workers.first_touch import detect_first_touch
from workers.reliability import (
    Completed,
    DeadLettered,
    Delivery,
    Retry,
    RetryPolicy,
    dead_letter,
    execute,
)
from workers.route import lead_from_snapshot, route_lead
from workers.template_suggest import suggest_template

__all__ = [
    "analytics_alerts",
    "analytics_report",
    "flywheel_flush",
    "lead_first_touch_detect",
    "lead_route",
    "lead_route_feedback",
    "lead_sla_sweep",
    "outreach_template_suggest",
]

log = logging.getLogger("workers.task")
_POLICY = RetryPolicy.from_settings(get_settings().workers)
_TEMPLATE_TASK_IDS = uuid.UUID("0f3c1d0e-51d5-4d0b-9a38-7c1b8e0e2f61")


class WorkloadTask(Task):  # type: ignore[misc]
    """A task that runs one workload under the fleet's retry and dead-letter policy."""

    acks_late = True
    max_retries = _POLICY.celery_max_retries
    # A retry after a lost pool process waits this long; short, like every countdown here.
    default_retry_delay = _POLICY.base_seconds

    def run_workload(
        self,
        payload: dict[str, Any],
        failures: int,
        first_seen: str | None,
        work: Callable[[Deps], str],
    ) -> str:
        """Run work(deps); retry or dead-letter on failure; log one canonical line."""
        started = time.monotonic()
        seen = datetime.fromisoformat(first_seen) if first_seen else utc_now()
        delivery = Delivery(
            self.name, payload, failures, seen, attempt=int(self.request.retries or 0) + 1
        )
        deps = get_deps()
        result = execute(
            delivery,
            lambda: work(deps),
            stream=deps.dead_letters,
            policy=_POLICY,
            rng=random.Random(),  # noqa: S311 - jitter, not security
            now=deps.clock,
        )
        self._log(delivery, result, started)
        if isinstance(result, Retry):
            retry_failures = failures + 1 if result.counted else failures
            try:
                raise self.retry(
                    args=[payload],
                    kwargs={"failures": retry_failures, "first_seen": seen.isoformat()},
                    countdown=result.countdown,
                    max_retries=_POLICY.celery_max_retries,
                )
            except MaxRetriesExceededError:
                dead_letter(
                    deps.dead_letters,
                    task=self.name,
                    payload=payload,
                    reason=f"Celery retry bound reached: {result.reason}",
                    attempts=failures + 1,
                    first_seen=seen,
                    last_seen=deps.clock(),
                )
                return "dead_lettered"
        return result.outcome

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """A task that escaped the policy (its process died past its retries): dead-letter it."""
        payload = args[0] if args and isinstance(args[0], dict) else {"args": repr(args)}
        kw = kwargs if isinstance(kwargs, dict) else {}
        first_seen = kw.get("first_seen")
        now = utc_now()
        try:
            stream = get_deps().dead_letters
        except Exception:
            # Without deps (bad settings, Redis down) there is nowhere to keep it; say so loudly.
            log.exception("task failed and could not be dead-lettered", extra={"task": self.name})
            return
        dead_letter(
            stream,
            task=self.name,
            payload=payload,
            reason=f"task failed outside the workload: {type(exc).__name__}: {exc}",
            attempts=int(kw.get("failures", 0)) + 1,
            first_seen=datetime.fromisoformat(first_seen) if first_seen else now,
            last_seen=now,
        )

    def _log(
        self, delivery: Delivery, result: Completed | Retry | DeadLettered, started: float
    ) -> None:
        payload = delivery.payload
        lead_id = payload.get("lead_id") or payload.get("record_id")
        extra: dict[str, Any] = {
            "event_id": payload.get("event_id"),
            "lead_id": lead_id,
            "workload": self.name,
            "outcome": "retry" if isinstance(result, Retry) else result.outcome,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "attempt": delivery.attempt,
        }
        if isinstance(result, Retry):
            extra["countdown_s"] = round(result.countdown, 2)
            extra["reason"] = result.reason
        elif isinstance(result, DeadLettered):
            extra["reason"] = result.reason
        log.info("task", extra=extra)


def _send_template_suggestion(task: Task, payload: dict[str, Any], event_id: str) -> None:
    """Chain the lead's template suggestion (its own task id, stable per event)."""
    task.app.send_task(
        TaskName.TEMPLATE_SUGGEST.value,
        args=[payload],
        task_id=str(uuid.uuid5(_TEMPLATE_TASK_IDS, event_id)),
        argsrepr=event_id,
    )


@app.task(bind=True, base=WorkloadTask, name=TaskName.LEAD_ROUTE.value)  # type: ignore[untyped-decorator]
def lead_route(
    self: WorkloadTask, payload: dict[str, Any], failures: int = 0, first_seen: str | None = None
) -> str:
    """Route a new lead once; when it has an owner, suggest its template."""

    def work(deps: Deps) -> str:
        message = LeadCreatedMessage.model_validate(payload)
        outcome = route_lead(deps, message, attempt=int(self.request.retries or 0) + 1)
        if outcome.chains_template:
            _send_template_suggestion(self, payload, message.event_id)
        return outcome.outcome

    return self.run_workload(payload, failures, first_seen, work)


@app.task(bind=True, base=WorkloadTask, name=TaskName.FIRST_TOUCH_DETECT.value)  # type: ignore[untyped-decorator]
def lead_first_touch_detect(
    self: WorkloadTask, payload: dict[str, Any], failures: int = 0, first_seen: str | None = None
) -> str:
    """Record a lead's first response when this activity is earlier than the stored one."""

    def work(deps: Deps) -> str:
        message = ResponseActivityMessage.model_validate(payload)
        attempt = int(self.request.retries or 0) + 1
        return detect_first_touch(deps, message=message, attempt=attempt).outcome

    return self.run_workload(payload, failures, first_seen, work)


@app.task(bind=True, base=WorkloadTask, name=TaskName.TEMPLATE_SUGGEST.value)  # type: ignore[untyped-decorator]
def outreach_template_suggest(
    self: WorkloadTask, payload: dict[str, Any], failures: int = 0, first_seen: str | None = None
) -> str:
    """Suggest the lead's outreach template, and send it once when sending is on."""

    def work(deps: Deps) -> str:
        message = LeadCreatedMessage.model_validate(payload)
        attempt = int(self.request.retries or 0) + 1
        outcome = suggest_template(
            deps, lead_from_snapshot(message), event_id=message.event_id, attempt=attempt
        )
        return outcome.outcome if outcome.blocked is None else f"blocked:{outcome.blocked}"

    return self.run_workload(payload, failures, first_seen, work)


@app.task(bind=True, base=WorkloadTask, name=TaskName.ROUTE_FEEDBACK.value)  # type: ignore[untyped-decorator]
def lead_route_feedback(
    self: WorkloadTask, payload: dict[str, Any], failures: int = 0, first_seen: str | None = None
) -> str:
    """Record a person's reassignment of a lead leadfleet routed (other owner changes are ignored)."""

    def work(deps: Deps) -> str:
        message = OwnerChangedMessage.model_validate(payload)
        return record_feedback(deps, message, attempt=int(self.request.retries or 0) + 1)

    return self.run_workload(payload, failures, first_seen, work)


@app.task(name=TaskName.FLYWHEEL_FLUSH.value, acks_late=True)  # type: ignore[untyped-decorator]
def flywheel_flush(**_: Any) -> str:
    """Move the flywheel stream into the store; a failed flush is retried by the next one."""

    def work() -> str:
        # A failure leaves the unacknowledged records pending; the next flush reclaims them.
        report = flush_configured(get_settings(), get_deps().redis)
        return "off" if report is None else f"flushed:{report.records}"

    return _periodic(TaskName.FLYWHEEL_FLUSH, work)


def _periodic(name: TaskName, work: Callable[[], str]) -> str:
    """Run a scheduled job with one canonical log line; a failure waits for the next tick."""
    started = time.monotonic()
    try:
        outcome = work()
    except (LeadfleetError, RedisError, OSError) as exc:
        outcome = f"failed:{type(exc).__name__}"
        extra = {"workload": name.value, "outcome": outcome, "reason": str(exc)[:300]}
        log.warning("task", extra={**extra, "duration_ms": _ms(started)})
        return outcome
    log.info(
        "task", extra={"workload": name.value, "outcome": outcome, "duration_ms": _ms(started)}
    )
    return outcome


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


@app.task(name=TaskName.ANALYTICS_REPORT.value)  # type: ignore[untyped-decorator]
def analytics_report(day: str = "today", **_: Any) -> str:
    """Write the report of a day: today (hourly), yesterday (the final one) or YYYY-MM-DD."""

    def work() -> str:
        # Imported here: pandas and matplotlib load only in a worker that runs analytics.
        from analytics.jobs import report_days, run_report

        deps = get_deps()
        now = deps.clock()
        start, end = report_days(day, now)
        run = run_report(get_settings(), start=start, end=end, now=now, redis=deps.redis)
        return f"written:{run.files.json.name}"

    return _periodic(TaskName.ANALYTICS_REPORT, work)


@app.task(name=TaskName.ANALYTICS_ALERTS.value)  # type: ignore[untyped-decorator]
def analytics_alerts(**_: Any) -> str:
    """Run the alert checks and send what is not in cooldown."""

    def work() -> str:
        from analytics.jobs import check_alerts

        deps = get_deps()
        sent = check_alerts(
            get_settings(),
            salesforce=deps.salesforce,
            redis=deps.redis,
            dead_letters=deps.dead_letters,
            clock=deps.clock,
        )
        return f"sent:{len(sent)}"

    return _periodic(TaskName.ANALYTICS_ALERTS, work)


@app.task(name=TaskName.SLA_SWEEP.value)  # type: ignore[untyped-decorator]
def lead_sla_sweep(**_: Any) -> str:
    """Find leads past their SLA with no response; alert, and re-route when enabled."""

    def work() -> str:
        from analytics.alerts import AlertBook, AlertNotifier
        from analytics.sweeper import FindingsStore, sweep

        deps, settings = get_deps(), get_settings()
        prefix = settings.redis.key_prefix
        outcome = sweep(
            deps.salesforce,
            deps.policy,
            settings.analytics,
            findings=FindingsStore(deps.redis, prefix),
            book=AlertBook(deps.redis, prefix, cooldown_seconds=settings.alerts.cooldown_seconds),
            notifier=AlertNotifier(settings.alerts),
            clock=deps.clock,
        )
        return f"overdue:{outcome.overdue}:rerouted:{outcome.rerouted}"

    return _periodic(TaskName.SLA_SWEEP, work)
