"""Worker metrics from a real worker: a Celery worker started as compose starts it (`--include
workers.metrics`) routes leads from the simulator, and the exporter serves what it counted."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from shared.messages import TaskName
from shared.queue_producer import build_producer
from shared.settings import RedisSettings
from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.redis_databases import claimed_redis_url
from tests.integration.test_workers_fleet import SNAPSHOT_FIELDS, lead_record, snapshot_message
from tests.integration.workers_support import CELERY, REPO, base_env, create_records, read_records
from workers.metrics_exporter import ExporterServer, build_registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PREFIX = "lf-metrics"
LEADS = 3


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis database of its own: Celery's queue keys have fixed names."""
    with claimed_redis_url() as url:
        yield url


@pytest.fixture(scope="module")
def worker(
    sim: SimulatorHandle, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """One worker on the routing and template queues, counting metrics; yields its log path."""
    log_path = tmp_path_factory.mktemp("metrics-worker") / "worker.log"
    env = base_env(sim, PREFIX, LEADFLEET_REDIS__URL=redis_url)
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "workers.app",
                "worker",
                "--queues",
                "lead.route,outreach.template_suggest",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--hostname",
                "metrics@%h",
                "--include",
                "workers.metrics",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log_path.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def exporter(redis_url: str) -> Iterator[str]:
    """The exporter on a free port, reading the worker's Redis; yields its /metrics URL."""
    client = redis.Redis.from_url(redis_url)
    server = ExporterServer("127.0.0.1", 0, build_registry(client, PREFIX))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.shutdown()
        client.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) to value, as Prometheus reads the exporter."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_for(url: str, key: tuple[str, tuple[tuple[str, str], ...]], target: float) -> dict:
    """Scrape until a sample reaches a value (the worker runs asynchronously); the last scrape."""
    deadline = time.monotonic() + 90
    samples = scrape(url)
    while samples.get(key, 0.0) < target and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(url)
    return samples


def test_a_real_worker_counts_what_it_did_and_the_exporter_serves_it(
    sim: SimulatorHandle, redis_url: str, worker: Path, exporter: str
) -> None:
    """Routed leads, their chained template suggestions and a dead letter are counted by
    workload and outcome, with run times, and served by the exporter."""
    sf = salesforce_for(sim)
    ids = create_records(sf, "Lead", [lead_record(i, ["example.com"], "MX") for i in range(LEADS)])
    records = read_records(sf, "Lead", ids, SNAPSHOT_FIELDS)
    producer = build_producer(RedisSettings(url=redis_url))
    try:
        for index, lead_id in enumerate(ids):
            producer.send(snapshot_message(records[lead_id], index, "MX"))
    finally:
        producer.close()
    # A message no workload can read goes to the dead-letter stream at once.
    sender = Celery("metrics-test", broker=redis_url, set_as_current=False)
    try:
        sender.send_task(TaskName.LEAD_ROUTE.value, args=[{"not": "a message"}], queue="lead.route")
    finally:
        sender.close()
    route = (("workload", "lead.route"),)
    suggested = (("outcome", "suggested"), ("workload", "outreach.template_suggest"))
    samples = wait_for(exporter, ("leadfleet_tasks_succeeded_total", suggested), LEADS)
    samples = wait_for(exporter, ("leadfleet_tasks_dead_lettered_total", route), 1)
    routed = (("outcome", "routed"), ("workload", "lead.route"))
    assert samples[("leadfleet_tasks_succeeded_total", routed)] == LEADS
    assert samples[("leadfleet_tasks_succeeded_total", suggested)] == LEADS
    assert samples[("leadfleet_tasks_dead_lettered_total", route)] == 1
    assert samples[("leadfleet_tasks_received_total", route)] == LEADS + 1
    assert samples[("leadfleet_task_runtime_seconds_count", route)] == LEADS + 1
    assert samples[("leadfleet_dead_letters", ())] == 1
    assert samples[("leadfleet_metrics_redis_up", ())] == 1
    org = sim.username
    assert samples[("leadfleet_salesforce_api_requests_max", (("org", org),))] > 0
