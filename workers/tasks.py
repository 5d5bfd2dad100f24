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

from shared.messages import LeadCreatedMessage, ResponseActivityMessage, TaskName
from shared.settings import get_settings
from workers.app import app
from workers.deps import Deps, get_deps, utc_now
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

__all__ = ["lead_first_touch_detect", "lead_route", "outreach_template_suggest"]

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
