"""What a task does when its workload fails: retry after a countdown, or dead-letter the message.

The policy, as a table (``plan_failure``):

| error                                             | plan                                        |
|---------------------------------------------------|---------------------------------------------|
| a wait (RateLimitedError, ClaimBusyError)         | retry after the wait; not counted a failure |
| RetryableError, RedisError, ConnectionError,      | retry after exponential backoff with full   |
| TimeoutError, kombu OperationalError              | jitter, capped; counted; past max_retries:  |
|                                                   | dead letter "retries exhausted"             |
| PermanentError, a message that does not validate  | dead letter at once                         |
| anything else (a bug)                             | dead letter at once, named as unexpected    |

Every countdown is capped at ``retry_backoff_max_seconds``, which settings keep below the
visibility timeout: on Redis a countdown is held unacknowledged in a worker's memory, and one
longer than the visibility timeout is restored to the queue and run again (see the Celery
reference, section 1.3). A wait longer than the cap is simply checked again after the cap.

Failures are counted in the task's own ``failures`` argument rather than Celery's
``request.retries``, because waits for a rate limit are retries too and must not use up the
failure budget. Celery's own bound (``celery_max_retries``) still caps the total, so a task
that keeps losing its worker process cannot loop forever.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kombu.exceptions import OperationalError
from pydantic import ValidationError
from redis.exceptions import RedisError

from shared.dead_letter import DeadLetterStream
from shared.errors import PermanentError, RetryableError
from shared.ratelimit import RateLimitedError
from shared.settings import WorkerSettings
from workers.idempotency import ClaimBusyError

__all__ = [
    "Completed",
    "DeadLetter",
    "DeadLettered",
    "Delivery",
    "Retry",
    "RetryPolicy",
    "backoff_seconds",
    "dead_letter",
    "execute",
    "plan_failure",
]

# Retries for waits (rate limits, busy claims) a task may take on top of its failure budget.
WAIT_RETRY_ALLOWANCE = 200
_WAIT_JITTER_SECONDS = 0.25
_TRANSIENT: tuple[type[BaseException], ...] = (
    RetryableError,
    RedisError,
    ConnectionError,
    TimeoutError,
    OperationalError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a task retries."""

    max_retries: int
    base_seconds: float
    cap_seconds: float

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> RetryPolicy:
        """The policy the settings describe."""
        return cls(
            max_retries=settings.max_retries,
            base_seconds=settings.retry_backoff_base_seconds,
            cap_seconds=settings.retry_backoff_max_seconds,
        )

    @property
    def celery_max_retries(self) -> int:
        """Celery's bound on all retries of one message, waits included."""
        return self.max_retries + WAIT_RETRY_ALLOWANCE


@dataclass(frozen=True)
class Retry:
    """Send the message again after countdown seconds."""

    countdown: float
    counted: bool
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """Give up on the message and keep it on the dead-letter stream."""

    reason: str


def backoff_seconds(policy: RetryPolicy, failure: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(failure-1))] for the failure-th failure."""
    ceiling = min(policy.cap_seconds, policy.base_seconds * 2 ** max(failure - 1, 0))
    return rng.uniform(0.0, ceiling)


def _wait_of(error: BaseException) -> float | None:
    if isinstance(error, RateLimitedError | ClaimBusyError):
        return error.retry_after
    return None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def plan_failure(
    error: BaseException, failures: int, policy: RetryPolicy, rng: random.Random
) -> Retry | DeadLetter:
    """What to do after error, given how many counted failures the message already had."""
    wait = _wait_of(error)
    if wait is not None:
        countdown = min(wait + rng.uniform(0.0, _WAIT_JITTER_SECONDS), policy.cap_seconds)
        return Retry(countdown=countdown, counted=False, reason=_describe(error))
    if isinstance(error, PermanentError | ValidationError):
        return DeadLetter(reason=_describe(error))
    if isinstance(error, _TRANSIENT):
        failure = failures + 1
        if failure > policy.max_retries:
            return DeadLetter(
                reason=f"retries exhausted after {failure} attempts: {_describe(error)}"
            )
        return Retry(
            countdown=backoff_seconds(policy, failure, rng), counted=True, reason=_describe(error)
        )
    return DeadLetter(reason=f"unexpected {_describe(error)}")


def dead_letter(
    stream: DeadLetterStream,
    *,
    task: str,
    payload: dict[str, Any],
    reason: str,
    attempts: int,
    first_seen: datetime,
    last_seen: datetime,
) -> str:
    """Keep a message the fleet gave up on, replayable as it was; returns the entry id."""
    return stream.add(
        "worker",
        reason,
        payload,
        task=task,
        attempts=attempts,
        first_seen=first_seen,
        last_seen=last_seen,
    )


@dataclass(frozen=True)
class Delivery:
    """One delivery of a task message: its payload and how it fared so far."""

    task: str
    payload: dict[str, Any]
    failures: int
    first_seen: datetime
    attempt: int


@dataclass(frozen=True)
class Completed:
    """The workload finished; outcome names what it did."""

    outcome: str


@dataclass(frozen=True)
class DeadLettered:
    """The message is on the dead-letter stream."""

    entry_id: str
    reason: str
    outcome: str = "dead_lettered"


def execute(
    delivery: Delivery,
    work: Callable[[], str],
    *,
    stream: DeadLetterStream,
    policy: RetryPolicy,
    rng: random.Random,
    now: Callable[[], datetime],
) -> Completed | Retry | DeadLettered:
    """Run a workload and turn its failure into a retry plan or a dead letter."""
    try:
        return Completed(outcome=work())
    except Exception as exc:
        plan = plan_failure(exc, delivery.failures, policy, rng)
    if isinstance(plan, Retry):
        return plan
    attempts = delivery.failures + 1
    entry_id = dead_letter(
        stream,
        task=delivery.task,
        payload=delivery.payload,
        reason=plan.reason,
        attempts=attempts,
        first_seen=delivery.first_seen,
        last_seen=now(),
    )
    return DeadLettered(entry_id=entry_id, reason=plan.reason)
