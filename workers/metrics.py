"""What the workers count for Prometheus, kept in Redis so one exporter can serve the fleet.

Workers count into one Redis hash through Celery signals (``celery worker --include
workers.metrics``); counting starts at ``worker_init``, so importing this module anywhere else
counts nothing. ``python -m workers.metrics_exporter`` serves the counts, with what Redis holds
(queue lengths, dead letters, the flywheel backlog, the org's API usage), on ``/metrics``.
Counts live in Redis rather than behind a port on each worker because workers scale with
``--scale`` and come and go: nothing needs discovering, a restart loses no counts, and a
prefork pool's children write as threads do (no prometheus_client multiprocess directory).
Each task costs one pipelined round trip.

Counted here (label ``workload`` is the task name, e.g. ``lead.route``):

- ``leadfleet_tasks_received_total{workload}``: messages a worker took from its queue;
- ``leadfleet_tasks_succeeded_total{workload,outcome}``: runs that finished; ``outcome`` is what
  the workload did (``routed``, ``duplicate``, ``written``, ``suggested``, ``blocked:opted_out``);
- ``leadfleet_tasks_dead_lettered_total{workload}``: runs that gave the message up to the
  dead-letter stream (permanent error or retries exhausted);
- ``leadfleet_tasks_failed_total{workload,exception}``: runs that raised out of the task (a bug
  or a lost process; the task dead-letters these too);
- ``leadfleet_tasks_retried_total{workload,kind}``: retries; ``kind`` is ``failure`` (counted
  against the retry budget) or ``wait`` (a fleet-wide rate limit or a busy idempotency claim);
- ``leadfleet_tasks_retry_wait_seconds_total{workload,kind}``: the retries' countdowns, summed;
- ``leadfleet_task_runtime_seconds{workload}``: histogram of run time;
- ``leadfleet_llm_requests_total{provider,model,outcome}``,
  ``leadfleet_llm_tokens_total{provider,model,kind}`` (input, output, cache_read,
  cache_creation) and ``leadfleet_rate_limit_waits_total{resource}``: by `MeteredLlm`.

The exporter's own gauges are listed in `GAUGES`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_received,
    task_retry,
    worker_init,
    worker_process_init,
)
from redis import Redis
from redis.exceptions import RedisError

from shared.llm.port import LlmPort, RoutingAnswer, TemplateAnswer
from shared.models import Lead
from shared.policy import RoutingPolicy
from shared.ratelimit import RateLimitedError
from shared.settings import LeadfleetSettings, get_settings
from shared.templates import TemplateCatalog

__all__ = [
    "COUNTERS",
    "GAUGES",
    "HISTOGRAMS",
    "PREFIX",
    "RUNTIME_BUCKETS",
    "TASK_SIGNALS",
    "Increment",
    "LabelPairs",
    "MeteredLlm",
    "MetricsStore",
    "TaskSignals",
    "exported_metric_names",
    "failure_increments",
    "histogram_increments",
    "outcome_label",
    "postrun_increments",
    "redis_client",
    "retry_increments",
    "retry_is_counted",
]

log = logging.getLogger("workers.metrics")

PREFIX = "leadfleet_"
# Task run times: a Redis hit is milliseconds, a Salesforce write plus an LLM call seconds,
# a flywheel flush or a report up to the task's budget (task_max_run_seconds).
RUNTIME_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
DEAD_LETTERED = "dead_lettered"
_OUTCOME = re.compile(r"[a-z][a-z_]*(?::[a-z][a-z_]*)?")
_OUTCOME_LIMIT = 48

LabelPairs = tuple[tuple[str, str], ...]
_Answer = TypeVar("_Answer", RoutingAnswer, TemplateAnswer)


# -- what a worker counts (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Increment:
    """Add `amount` to the series `name{labels}` (a counter or a histogram's part)."""

    name: str
    labels: LabelPairs
    amount: float = 1.0


def _labels(**values: str) -> LabelPairs:
    return tuple(sorted(values.items()))


def outcome_label(retval: object) -> str:
    """The outcome label of a task's return value; counts and free text are cut off (cardinality)."""
    if not isinstance(retval, str) or not retval:
        return "none"
    match = _OUTCOME.match(retval.strip())
    if match is None:
        return "other"
    return match.group(0)[:_OUTCOME_LIMIT]


def histogram_increments(
    name: str, labels: LabelPairs, value: float, buckets: Sequence[float] = RUNTIME_BUCKETS
) -> list[Increment]:
    """One observation: its (non-cumulative) bucket, the sum and the count."""
    bound = next((b for b in buckets if value <= b), None)
    le = "+Inf" if bound is None else repr(float(bound))
    return [
        Increment(f"{name}_bucket", (*labels, ("le", le))),
        Increment(f"{name}_sum", labels, value),
        Increment(f"{name}_count", labels),
    ]


def postrun_increments(
    workload: str, state: str | None, retval: object, runtime: float | None
) -> list[Increment]:
    """A finished run: succeeded (by outcome) or dead-lettered, and its run time."""
    labels = _labels(workload=workload)
    increments: list[Increment] = []
    if state == "SUCCESS":
        outcome = outcome_label(retval)
        if outcome == DEAD_LETTERED:
            increments.append(Increment("tasks_dead_lettered_total", labels))
        else:
            increments.append(
                Increment("tasks_succeeded_total", _labels(workload=workload, outcome=outcome))
            )
    if runtime is not None:
        increments += histogram_increments("task_runtime_seconds", labels, max(runtime, 0.0))
    return increments


def retry_increments(workload: str, counted: bool, countdown: float | None) -> list[Increment]:
    """A retry: a counted failure or a wait, and how long it waits."""
    labels = _labels(workload=workload, kind="failure" if counted else "wait")
    increments = [Increment("tasks_retried_total", labels)]
    if countdown is not None and countdown > 0:
        increments.append(Increment("tasks_retry_wait_seconds_total", labels, countdown))
    return increments


def retry_is_counted(
    request_kwargs: Mapping[str, Any] | None, retry_kwargs: Mapping[str, Any] | None
) -> bool:
    """Whether a retry counts against the failure budget.

    The fleet's tasks carry their counted failures in ``kwargs["failures"]``; a retry that
    sends the same count again is a wait (a fleet-wide rate limit, a busy claim).
    """
    after = (retry_kwargs or {}).get("failures")
    if after is None:
        return True
    return bool(after != (request_kwargs or {}).get("failures", 0))


def failure_increments(workload: str, exception: BaseException | None) -> list[Increment]:
    """A run that raised out of the task."""
    name = type(exception).__name__ if exception is not None else "unknown"
    return [Increment("tasks_failed_total", _labels(workload=workload, exception=name))]


# -- where the counts live ---------------------------------------------------------------------


class MetricsStore:
    """The fleet's counters: one Redis hash, a field per series (JSON of name and labels)."""

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._redis = redis
        self.key = f"{key_prefix}:metrics"

    def __repr__(self) -> str:
        return f"MetricsStore(key={self.key!r})"

    def add(self, increments: Iterable[Increment]) -> None:
        """Apply the increments in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        count = 0
        for inc in increments:
            field = json.dumps([inc.name, [list(pair) for pair in inc.labels]])
            # One command for every series: a sum and a count may share nothing but their type.
            pipe.hincrbyfloat(self.key, field, inc.amount)
            count += 1
        if count:
            pipe.execute()

    def read(self) -> dict[tuple[str, LabelPairs], float]:
        """Every series and its value."""
        raw: Mapping[Any, Any] = self._redis.hgetall(self.key)
        series: dict[tuple[str, LabelPairs], float] = {}
        for field, value in raw.items():
            try:
                name, pairs = json.loads(field)
                labels = tuple((str(k), str(v)) for k, v in pairs)
                series[(str(name), labels)] = float(value)
            except (ValueError, TypeError):
                continue
        return series


class TaskSignals:
    """Celery signal handlers that count task runs into a MetricsStore, once enabled."""

    def __init__(self, store_factory: Callable[[], MetricsStore]) -> None:
        self._store_factory = store_factory
        self._store: MetricsStore | None = None
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._warned = False
        self.enabled = False

    def reset(self) -> None:
        """Forget the Redis connection (a forked pool process opens its own)."""
        with self._lock:
            self._store = None
            self._started.clear()

    def received(self, workload: str) -> None:
        """A message was taken from a queue."""
        self._record([Increment("tasks_received_total", _labels(workload=workload))])

    def prerun(self, task_id: str) -> None:
        """A run starts."""
        if self.enabled:
            with self._lock:
                self._started[task_id] = time.monotonic()

    def postrun(self, task_id: str, workload: str, state: str | None, retval: object) -> None:
        """A run ended (in any state)."""
        if not self.enabled:
            return
        with self._lock:
            started = self._started.pop(task_id, None)
        runtime = None if started is None else time.monotonic() - started
        self._record(postrun_increments(workload, state, retval, runtime))

    def retried(self, workload: str, counted: bool, countdown: float | None) -> None:
        """A run asked to be retried."""
        self._record(retry_increments(workload, counted, countdown))

    def failed(self, workload: str, exception: BaseException | None) -> None:
        """A run raised out of the task."""
        self._record(failure_increments(workload, exception))

    def _record(self, increments: list[Increment]) -> None:
        if not self.enabled:
            return
        try:
            with self._lock:
                if self._store is None:
                    self._store = self._store_factory()
                store = self._store
            store.add(increments)
        except (RedisError, OSError) as exc:
            # Metrics never fail a task; say so once per process, not once per task.
            if not self._warned:
                self._warned = True
                log.warning("task metrics not recorded: %s", type(exc).__name__)


def _store_from_settings() -> MetricsStore:
    settings = get_settings()
    return MetricsStore(redis_client(settings), settings.redis.key_prefix)


def redis_client(settings: LeadfleetSettings) -> Redis:
    """A Redis client for the fleet's Redis with the settings' timeouts."""
    timeout = settings.redis.socket_timeout_seconds
    return Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


TASK_SIGNALS = TaskSignals(_store_from_settings)


def _task_name(task: Any) -> str:
    return str(getattr(task, "name", None) or "unknown")


@worker_init.connect  # type: ignore[untyped-decorator]
def _enable(**_: Any) -> None:
    TASK_SIGNALS.enabled = True


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _reset_in_child(**_: Any) -> None:
    TASK_SIGNALS.reset()


@task_received.connect  # type: ignore[untyped-decorator]
def _on_received(request: Any = None, **_: Any) -> None:
    TASK_SIGNALS.received(str(getattr(request, "name", None) or "unknown"))


@task_prerun.connect  # type: ignore[untyped-decorator]
def _on_prerun(task_id: str = "", **_: Any) -> None:
    TASK_SIGNALS.prerun(task_id)


@task_postrun.connect  # type: ignore[untyped-decorator]
def _on_postrun(
    task_id: str = "", task: Any = None, retval: Any = None, state: str | None = None, **_: Any
) -> None:
    TASK_SIGNALS.postrun(task_id, _task_name(task), state, retval)


@task_retry.connect  # type: ignore[untyped-decorator]
def _on_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    signature = getattr(reason, "sig", None)
    counted = retry_is_counted(getattr(request, "kwargs", None), getattr(signature, "kwargs", None))
    when = getattr(reason, "when", None)
    countdown = float(when) if isinstance(when, int | float) else None
    TASK_SIGNALS.retried(_task_name(sender), counted, countdown)


@task_failure.connect  # type: ignore[untyped-decorator]
def _on_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    TASK_SIGNALS.failed(_task_name(sender), exception)


# -- the LLM's usage ---------------------------------------------------------------------------


class MeteredLlm:
    """LlmPort that counts requests, tokens and rate-limit waits of the port it wraps.

    Wrap the rate-limited port (``MeteredLlm(RateLimitedLlm(...), store)``) so a wait for the
    fleet's Anthropic buckets is counted too.
    """

    def __init__(self, inner: LlmPort, store: MetricsStore) -> None:
        self._inner = inner
        self._store = store

    def __repr__(self) -> str:
        return f"MeteredLlm({self._inner!r})"

    @property
    def name(self) -> str:
        """The wrapped provider's name."""
        return self._inner.name

    def route(self, lead: Lead, policy: RoutingPolicy, *, timeout: float) -> RoutingAnswer:
        """Segment and region for a lead, chosen among the policy's names."""
        return self._metered(lambda: self._inner.route(lead, policy, timeout=timeout))

    def choose_template(
        self, lead: Lead, catalog: TemplateCatalog, *, timeout: float
    ) -> TemplateAnswer:
        """Intent and template for a lead, chosen among the catalogue's ids."""
        return self._metered(lambda: self._inner.choose_template(lead, catalog, timeout=timeout))

    def _metered(self, call: Callable[[], _Answer]) -> _Answer:
        try:
            answer = call()
        except RateLimitedError:
            self._safely([Increment("rate_limit_waits_total", _labels(resource="llm"))])
            raise
        except Exception as exc:
            self._safely(
                [
                    Increment(
                        "llm_requests_total",
                        _labels(provider=self.name, model="", outcome=type(exc).__name__),
                    )
                ]
            )
            raise
        exchange = answer.exchange
        base = {"provider": exchange.provider, "model": exchange.model}
        increments = [Increment("llm_requests_total", _labels(**base, outcome="ok"))]
        for kind, tokens in (
            ("input", exchange.input_tokens),
            ("output", exchange.output_tokens),
            ("cache_read", exchange.cache_read_tokens),
            ("cache_creation", exchange.cache_creation_tokens),
        ):
            if tokens:
                increments.append(
                    Increment("llm_tokens_total", _labels(**base, kind=kind), float(tokens))
                )
        self._safely(increments)
        return answer

    def _safely(self, increments: list[Increment]) -> None:
        try:
            self._store.add(increments)
        except (RedisError, OSError):
            log.warning("llm metrics not recorded", exc_info=False)


# -- the series the exporter serves -----------------------------------------------------------

COUNTERS: dict[str, str] = {
    "tasks_received_total": "Messages workers took from their queues, by workload.",
    "tasks_succeeded_total": "Runs that finished, by workload and what the workload did.",
    "tasks_dead_lettered_total": "Runs that gave their message up to the dead-letter stream.",
    "tasks_failed_total": "Runs that raised out of the task, by workload and exception.",
    "tasks_retried_total": "Retries, by workload and kind (failure, or a wait for a limit).",
    "tasks_retry_wait_seconds_total": "Retry countdowns summed, by workload and kind.",
    "llm_requests_total": "LLM requests, by provider, model and outcome.",
    "llm_tokens_total": "LLM tokens, by provider, model and kind.",
    "rate_limit_waits_total": "Calls held back by a fleet-wide rate limit, by resource.",
}
HISTOGRAMS: dict[str, str] = {
    "task_runtime_seconds": "Run time of a task, by workload.",
}


GAUGES: dict[str, str] = {
    "metrics_redis_up": "1 when the exporter could read Redis on this scrape.",
    "queue_messages": "Messages waiting in each Celery queue.",
    "queue_unacked_messages": "Messages workers hold unacknowledged (running, or waiting out a "
    "retry countdown).",
    "dead_letters": "Entries on the dead-letter stream.",
    "flywheel_unflushed_records": "Flywheel records not yet written to the store.",
    "salesforce_api_requests_used": "The org's daily API requests used, as Salesforce last "
    "reported.",
    "salesforce_api_requests_max": "The org's daily API request allowance.",
    "salesforce_api_usage_age_seconds": "Seconds since a worker last recorded the org's API usage.",
}


def exported_metric_names() -> frozenset[str]:
    """Every metric name the exporter can serve, as a Prometheus query names it."""
    names = {PREFIX + n for n in (*COUNTERS, *GAUGES)}
    names |= {PREFIX + n + s for n in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
    return frozenset(names)
