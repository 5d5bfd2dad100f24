"""Worker metrics: what a task run counts, how the counts reach Prometheus through Redis, and
that the dashboard and the README name only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from listener.metrics import ListenerMetrics
from shared.models import Lead
from shared.ratelimit import RateLimitedError
from tests.unit.workers_fakes import POLICY, TEMPLATES, FakeLlm, fake_redis
from workers.metrics import (
    COUNTERS,
    GAUGES,
    HISTOGRAMS,
    PREFIX,
    MeteredLlm,
    MetricsStore,
    TaskSignals,
    exported_metric_names,
    outcome_label,
    postrun_increments,
    retry_increments,
    retry_is_counted,
)
from workers.metrics_exporter import build_registry

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "leadfleet.json"
DATASOURCE = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
# Flower's own Prometheus metrics (scraped from flower:5555 inside the compose network).
FLOWER_METRICS = frozenset(
    {
        "flower_events_total",
        "flower_task_runtime_seconds_bucket",
        "flower_worker_online",
        "flower_worker_number_of_currently_executing_tasks",
    }
)
_METRIC = re.compile(r"\b((?:leadfleet|flower)_[a-z0-9_]+)\b")


def scrape(redis: Any, prefix: str = "t") -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name to (labels, value) pairs, as Prometheus would read the exporter."""
    text = generate_latest(build_registry(redis, prefix)).decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    """The value of the one sample with exactly these labels."""
    found = [v for got, v in samples.get(name, []) if got == labels]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.mark.parametrize(
    ("retval", "expected"),
    [
        ("routed", "routed"),
        ("blocked:opted_out", "blocked:opted_out"),
        ("flushed:1234", "flushed"),
        ("failed:RedisError", "failed"),
        (None, "none"),
        ({"outcome": "routed"}, "none"),
        (" routed ", "routed"),
        ("Routed", "other"),
        ("42 leads", "other"),
    ],
    ids=[
        "plain",
        "blocked-reason",
        "count-cut",
        "exception-cut",
        "none",
        "not-text",
        "padded",
        "capitalised",
        "free-text",
    ],
)
def test_outcome_label_stays_a_small_set(retval: object, expected: str) -> None:
    """Counts, exception names and free text never become label values (bounded cardinality)."""
    assert outcome_label(retval) == expected


@pytest.mark.parametrize(
    ("before", "after", "counted"),
    [(0, 1, True), (2, 2, False), (0, None, True), (None, 0, False)],
    ids=["failure-counted", "wait-not-counted", "no-signature", "first-wait"],
)
def test_retry_kind_follows_the_failure_budget(
    before: int | None, after: int | None, counted: bool
) -> None:
    """A retry that raises `failures` is a failure; one that keeps it is a wait for a limit."""
    request_kwargs = {} if before is None else {"failures": before}
    signature_kwargs = None if after is None else {"failures": after}
    assert retry_is_counted(request_kwargs, signature_kwargs) is counted


def test_a_finished_run_reaches_prometheus_by_workload_and_outcome() -> None:
    """Succeeded, dead-lettered, retries by kind and run time are served as Prometheus reads them."""
    redis = fake_redis()
    store = MetricsStore(redis, "t")
    store.add(postrun_increments("lead.route", "SUCCESS", "routed", 0.3))
    store.add(postrun_increments("lead.route", "SUCCESS", "routed", 7.0))
    store.add(postrun_increments("lead.route", "SUCCESS", "dead_lettered", 0.01))
    store.add(postrun_increments("outreach.template_suggest", "RETRY", None, 0.2))
    store.add(retry_increments("outreach.template_suggest", False, 1.5))
    store.add(retry_increments("outreach.template_suggest", True, 4.0))
    samples = scrape(redis)
    assert value(samples, "leadfleet_tasks_succeeded_total", workload="lead.route",
                 outcome="routed") == 2  # fmt: skip
    assert value(samples, "leadfleet_tasks_dead_lettered_total", workload="lead.route") == 1
    assert "leadfleet_tasks_succeeded_total" not in {
        name for name, rows in samples.items() for labels, _ in rows
        if labels.get("workload") == "outreach.template_suggest"
    }  # fmt: skip
    retried = "leadfleet_tasks_retried_total"
    assert value(samples, retried, workload="outreach.template_suggest", kind="wait") == 1
    assert value(samples, retried, workload="outreach.template_suggest", kind="failure") == 1
    assert value(samples, "leadfleet_tasks_retry_wait_seconds_total",
                 workload="outreach.template_suggest", kind="failure") == 4.0  # fmt: skip
    bucket = "leadfleet_task_runtime_seconds_bucket"
    assert value(samples, bucket, workload="lead.route", le="0.5") == 2  # 0.01 and 0.3
    assert value(samples, bucket, workload="lead.route", le="5.0") == 2
    assert value(samples, bucket, workload="lead.route", le="10.0") == 3
    assert value(samples, bucket, workload="lead.route", le="+Inf") == 3
    assert value(samples, "leadfleet_task_runtime_seconds_count", workload="lead.route") == 3
    assert value(samples, "leadfleet_task_runtime_seconds_sum", workload="lead.route") == 7.31


def test_exporter_reads_queues_dead_letters_and_api_usage_from_redis() -> None:
    """Queue lengths (with priority sub-queues), unacked, dead letters, backlog and API usage."""
    redis = fake_redis()
    redis.rpush("lead.route", "a", "b")
    redis.rpush("lead.route\x06\x163", "c")
    redis.hset("unacked", mapping={"tag1": "m", "tag2": "m"})
    redis.xadd("t:deadletter", {"reason": "x"})
    redis.xadd("t:flywheel", {"record": "{}"})
    redis.set("t:ratelimit:salesforce:integration@example.com:api_usage",
              json.dumps({"used": 250, "max": 1000, "at": 0}))  # fmt: skip
    samples = scrape(redis)
    assert value(samples, "leadfleet_metrics_redis_up") == 1
    assert value(samples, "leadfleet_queue_messages", queue="lead.route") == 3
    assert value(samples, "leadfleet_queue_messages", queue="recovery") == 0
    assert value(samples, "leadfleet_queue_unacked_messages") == 2
    assert value(samples, "leadfleet_dead_letters") == 1
    assert value(samples, "leadfleet_flywheel_unflushed_records") == 1
    org = "integration@example.com"
    assert value(samples, "leadfleet_salesforce_api_requests_used", org=org) == 250
    assert value(samples, "leadfleet_salesforce_api_requests_max", org=org) == 1000


def test_exporter_says_when_redis_is_down() -> None:
    """With Redis unreachable the scrape still answers, with leadfleet_metrics_redis_up 0."""

    class DownRedis:
        def __getattr__(self, name: str) -> Any:
            from redis.exceptions import ConnectionError as RedisConnectionError

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise RedisConnectionError("refused")

            return fail

    samples = scrape(DownRedis())
    assert value(samples, "leadfleet_metrics_redis_up") == 0
    assert "leadfleet_queue_messages" not in samples


def test_signals_count_nothing_until_a_worker_starts() -> None:
    """Importing the module (a test, the exporter, a CLI) records nothing; a worker does."""
    redis = fake_redis()
    signals = TaskSignals(lambda: MetricsStore(redis, "t"))
    signals.received("lead.route")
    signals.prerun("task-1")
    signals.postrun("task-1", "lead.route", "SUCCESS", "routed")
    assert redis.hgetall("t:metrics") == {}
    signals.enabled = True
    signals.received("lead.route")
    signals.prerun("task-2")
    signals.postrun("task-2", "lead.route", "SUCCESS", "routed")
    samples = scrape(redis)
    assert value(samples, "leadfleet_tasks_received_total", workload="lead.route") == 1
    assert value(samples, "leadfleet_tasks_succeeded_total", workload="lead.route",
                 outcome="routed") == 1  # fmt: skip
    assert value(samples, "leadfleet_task_runtime_seconds_count", workload="lead.route") == 1


def test_a_metrics_failure_never_fails_the_task() -> None:
    """When Redis refuses the counts, the signal handler returns normally."""

    def broken_store() -> MetricsStore:
        from redis.exceptions import ConnectionError as RedisConnectionError

        raise RedisConnectionError("refused")

    signals = TaskSignals(broken_store)
    signals.enabled = True
    signals.failed("lead.route", ValueError("boom"))
    signals.retried("lead.route", True, 1.0)


def test_metered_llm_counts_requests_tokens_and_waits() -> None:
    """Each answer adds a request and its tokens; a wait for the fleet's limit is a wait."""
    redis = fake_redis()
    store = MetricsStore(redis, "t")
    llm = MeteredLlm(FakeLlm(), store)
    lead = Lead(Id="00Q000000000001AAA")
    llm.route(lead, POLICY, timeout=1.0)
    llm.choose_template(lead, TEMPLATES, timeout=1.0)
    waiting = MeteredLlm(FakeLlm(fail=RateLimitedError("llm route", 2.0)), store)
    with pytest.raises(RateLimitedError):
        waiting.route(lead, POLICY, timeout=1.0)
    samples = scrape(redis)
    assert value(samples, "leadfleet_llm_requests_total", provider="fake", model="fake-1",
                 outcome="ok") == 2  # fmt: skip
    assert value(samples, "leadfleet_llm_tokens_total", provider="fake", model="fake-1",
                 kind="input") == 20  # fmt: skip
    assert value(samples, "leadfleet_llm_tokens_total", provider="fake", model="fake-1",
                 kind="output") == 10  # fmt: skip
    assert value(samples, "leadfleet_rate_limit_waits_total", resource="llm") == 1


def _listener_metric_names() -> set[str]:
    names: set[str] = set()
    for family in ListenerMetrics().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return names


def test_dashboard_queries_only_metrics_that_exist() -> None:
    """Every query of the Grafana dashboard names a metric the fleet exports."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    known = exported_metric_names() | _listener_metric_names() | FLOWER_METRICS
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(_METRIC.findall(target["expr"]))
            assert target["datasource"]["uid"] == "prometheus"
    assert used
    assert used - known == set()
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(dashboard["panels"]) + 1))
    assert "uid: prometheus" in DATASOURCE.read_text(encoding="utf-8")


def test_readme_documents_every_exported_metric() -> None:
    """A user reading the README finds every metric name the exporter serves."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    names = [PREFIX + n for n in (*COUNTERS, *GAUGES, *HISTOGRAMS)]
    missing = [name for name in names if name not in readme]
    assert missing == []
