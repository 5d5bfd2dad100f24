"""The retry and dead-letter policy as a table: which errors retry, how long, when to give up."""

from __future__ import annotations

import random

import pytest
from pydantic import BaseModel, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.dead_letter import DeadLetterStream
from shared.errors import InvalidInputError, TemplateFillError
from shared.ratelimit import RateLimitedError
from shared.salesforce import NotFoundError, RowLockError, ServerError, TransportError
from tests.unit.workers_fakes import START, fake_redis
from workers.idempotency import ClaimBusyError
from workers.reliability import (
    Completed,
    DeadLetter,
    DeadLettered,
    Delivery,
    Retry,
    RetryPolicy,
    backoff_seconds,
    execute,
    plan_failure,
)

POLICY = RetryPolicy(max_retries=3, base_seconds=1.0, cap_seconds=10.0)


class _Message(BaseModel):
    lead_id: str


def _invalid() -> ValidationError:
    try:
        _Message.model_validate({})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("error", "failures", "kind", "counted"),
    [
        (ServerError("unavailable", status=503), 0, Retry, True),
        (RowLockError("locked"), 2, Retry, True),
        (TransportError("timed out"), 3, DeadLetter, None),
        (RedisConnectionError("refused"), 0, Retry, True),
        (RateLimitedError("salesforce", 4.0), 99, Retry, False),
        (ClaimBusyError("lead", 2.0), 99, Retry, False),
        (NotFoundError("gone", status=404), 0, DeadLetter, None),
        (TemplateFillError("demo", "first_name"), 0, DeadLetter, None),
        (InvalidInputError("bad"), 0, DeadLetter, None),
        (_invalid(), 0, DeadLetter, None),
        (KeyError("bug"), 0, DeadLetter, None),
    ],
    ids=[
        "5xx-retries",
        "row-lock-retries",
        "retries-exhausted",
        "redis-down-retries",
        "rate-limit-waits-uncounted",
        "busy-claim-waits-uncounted",
        "not-found-dead-letters",
        "fill-error-dead-letters",
        "invalid-input-dead-letters",
        "invalid-message-dead-letters",
        "unexpected-bug-dead-letters",
    ],
)
def test_failure_plan(
    error: BaseException, failures: int, kind: type, counted: bool | None
) -> None:
    """Retryable errors retry until max_retries, waits never use the budget, the rest dead-letter."""
    plan = plan_failure(error, failures, POLICY, random.Random(0))
    assert isinstance(plan, kind)
    if isinstance(plan, Retry):
        assert plan.counted is counted
        assert 0 <= plan.countdown <= POLICY.cap_seconds


def test_exhausted_retries_say_so_in_the_reason() -> None:
    """A dead letter after the last retry names the attempts and the last error."""
    plan = plan_failure(ServerError("down", status=503), 3, POLICY, random.Random(0))
    assert isinstance(plan, DeadLetter)
    assert plan.reason.startswith("retries exhausted after 4 attempts: ServerError")


def test_a_wait_is_retried_after_the_wait_but_never_past_the_cap() -> None:
    """A rate-limit wait longer than the cap is re-checked at the cap (countdowns stay short)."""
    short = plan_failure(RateLimitedError("sf", 2.0), 0, POLICY, random.Random(0))
    long = plan_failure(RateLimitedError("sf", 500.0), 0, POLICY, random.Random(0))
    assert isinstance(short, Retry) and 2.0 <= short.countdown <= 2.25
    assert isinstance(long, Retry) and long.countdown == POLICY.cap_seconds


@pytest.mark.parametrize("failure", [1, 2, 3, 4, 5, 8], ids=lambda n: f"failure-{n}")
def test_backoff_is_full_jitter_under_an_exponential_ceiling(failure: int) -> None:
    """Each countdown lies in [0, min(cap, base * 2^(n-1))] and the draws spread over it."""
    ceiling = min(POLICY.cap_seconds, POLICY.base_seconds * 2 ** (failure - 1))
    rng = random.Random(failure)
    draws = [backoff_seconds(POLICY, failure, rng) for _ in range(500)]
    assert all(0 <= d <= ceiling for d in draws)
    assert max(draws) > 0.8 * ceiling and min(draws) < 0.2 * ceiling


def test_execute_returns_the_outcome_when_the_work_succeeds() -> None:
    """Success passes the outcome through and writes no dead letter."""
    stream = DeadLetterStream(fake_redis(), "t")
    result = execute(
        Delivery("lead.route", {"event_id": "e"}, 0, START, 1),
        lambda: "routed",
        stream=stream,
        policy=POLICY,
        rng=random.Random(0),
        now=lambda: START,
    )
    assert result == Completed("routed")
    assert stream.length() == 0


def test_a_dead_letter_keeps_task_message_error_attempts_and_times() -> None:
    """Giving up stores everything a person needs to inspect and replay the message."""
    stream = DeadLetterStream(fake_redis(), "t")
    payload = {"event_id": "e-1", "record_id": "00Q000000000001AAA"}

    def fail() -> str:
        raise ServerError("still down", status=503)

    result = execute(
        Delivery("lead.route", payload, 3, START.replace(hour=8), 9),
        fail,
        stream=stream,
        policy=POLICY,
        rng=random.Random(0),
        now=lambda: START,
    )

    assert isinstance(result, DeadLettered)
    [entry] = stream.list()
    assert (entry.task, entry.attempts, entry.source) == ("lead.route", 4, "worker")
    assert (entry.first_seen, entry.last_seen) == (START.replace(hour=8), START)
    assert "still down" in entry.reason
    assert entry.original_payload() == payload
