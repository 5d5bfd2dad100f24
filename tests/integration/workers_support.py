"""Real Celery worker processes against the simulator and Redis, for the worker integration tests.

Workers run as `celery -A workers.app worker --pool threads` subprocesses in their own process
group (so a test can SIGKILL one whole worker), configured only through LEADFLEET_* variables.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from simple_salesforce import Salesforce

from shared.messages import Queue
from shared.queue_producer import CeleryProducer, build_producer
from shared.settings import RedisSettings
from simulator.testing import SimulatorHandle
from tests.integration.redis_databases import redis_url_for_this_process

REDIS_URL = os.environ.get("LEADFLEET_TEST_WORKERS_REDIS_URL") or redis_url_for_this_process()
REPO = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
WORKLOAD_QUEUES = (Queue.LEAD_ROUTE, Queue.FIRST_TOUCH_DETECT, Queue.TEMPLATE_SUGGEST)
LEADFLEET_CLIENT = "client=leadfleet"


def base_env(sim: SimulatorHandle, prefix: str, **overrides: str) -> dict[str, str]:
    """Worker settings pointing at the simulator and the test Redis, with short timeouts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    env.update(
        {
            "LEADFLEET_REDIS__URL": REDIS_URL,
            "LEADFLEET_REDIS__KEY_PREFIX": prefix,
            "LEADFLEET_SALESFORCE__LOGIN_URL": sim.login_url,
            "LEADFLEET_SALESFORCE__CONSUMER_KEY": sim.consumer_key,
            "LEADFLEET_SALESFORCE__USERNAME": sim.username,
            "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH": str(sim.private_key_path),
            "LEADFLEET_SALESFORCE__CA_BUNDLE": str(sim.ca_bundle),
            "LEADFLEET_SALESFORCE__TIMEOUT_SECONDS": "10",
            "LEADFLEET_LLM__API_KEY": "",
            "LEADFLEET_WORKERS__TASK_MAX_RUN_SECONDS": "10",
            "LEADFLEET_WORKERS__RETRY_BACKOFF_BASE_SECONDS": "0.2",
            "LEADFLEET_WORKERS__RETRY_BACKOFF_MAX_SECONDS": "3",
            "LEADFLEET_WORKERS__VISIBILITY_TIMEOUT_SECONDS": "20",
            "LEADFLEET_WORKERS__UNACKED_RESTORE_INTERVAL_SECONDS": "2",
            "LEADFLEET_WORKERS__SOFT_SHUTDOWN_TIMEOUT_SECONDS": "2",
            "LEADFLEET_WORKERS__ROUTE_CLAIM_LEASE_SECONDS": "8",
            "LEADFLEET_WORKERS__FIRST_TOUCH_LOCK_SECONDS": "8",
            "LEADFLEET_WORKERS__SEND_CONFIRM_AFTER_SECONDS": "5",
            "LEADFLEET_WORKERS__MAX_RETRIES": "12",
            "LEADFLEET_RATELIMIT__SALESFORCE_CALLS": "100000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


@dataclass
class Worker:
    """One worker process group and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines so far."""
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        return lines

    def task_lines(self) -> list[dict[str, Any]]:
        """The canonical per-task lines."""
        return [line for line in self.log_lines() if line.get("event") == "task"]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool) at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Fleet:
    """Workers started for one test module, and a producer onto their queues."""

    env: dict[str, str]
    log_dir: Path
    producer: CeleryProducer
    redis: redis.Redis
    workers: list[Worker] = field(default_factory=list)

    def start_worker(
        self, name: str, *, concurrency: int = 4, queues: Iterable[Queue] = WORKLOAD_QUEUES
    ) -> Worker:
        """Start one worker and wait until it consumes."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "workers.app",
                    "worker",
                    "-Q",
                    ",".join(q.value for q in queues),
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(concurrency),
                    "--hostname",
                    f"{name}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "INFO",
                ],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, process, log_path)
        self.workers.append(worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker {name} exited:\n{log_path.read_text()[-3000:]}")
            if "ready" in log_path.read_text(encoding="utf-8", errors="replace"):
                return worker
            time.sleep(0.2)
        raise RuntimeError(f"worker {name} did not become ready:\n{log_path.read_text()[-3000:]}")

    def pending(self, queues: Iterable[Queue] = WORKLOAD_QUEUES) -> int:
        """Messages queued or held unacknowledged (running, reserved or counting down)."""
        queued = sum(int(self.redis.llen(q.value)) for q in queues)
        return queued + int(self.redis.hlen("unacked"))

    def wait_drained(
        self, timeout: float = 240.0, queues: Iterable[Queue] = WORKLOAD_QUEUES
    ) -> float:
        """Wait until nothing is queued or in flight (twice in a row); returns seconds waited."""
        started = time.monotonic()
        quiet = 0
        watched = tuple(queues)
        while time.monotonic() - started < timeout:
            quiet = quiet + 1 if self.pending(watched) == 0 else 0
            if quiet >= 3:
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(f"not drained after {timeout} s: {self.pending(watched)} pending")

    def task_lines(self) -> list[dict[str, Any]]:
        """Every worker's canonical task lines."""
        return [line for w in self.workers for line in w.task_lines()]


@contextmanager
def running_fleet(env: Mapping[str, str], log_dir: Path) -> Iterator[Fleet]:
    """A fleet on a flushed test Redis database; every worker is stopped afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    producer = build_producer(RedisSettings(url=REDIS_URL))
    fleet = Fleet(dict(env), log_dir, producer, client)
    try:
        yield fleet
    finally:
        for worker in fleet.workers:
            worker.stop()
        producer.close()
        client.close()


def create_records(sf: Salesforce, sobject: str, records: list[dict[str, Any]]) -> list[str]:
    """Create records through sObject Collections, 200 per request; their ids in order."""
    ids: list[str] = []
    for start in range(0, len(records), 200):
        chunk = [{"attributes": {"type": sobject}, **r} for r in records[start : start + 200]]
        results = sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": True, "records": chunk}
        )
        for result in results:
            assert result["success"], result
            ids.append(result["id"])
    return ids


def read_records(
    sf: Salesforce, sobject: str, ids: list[str], fields: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Records by id through sObject Collections GET, 200 per request."""
    names = ",".join(fields)
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        rows = sf.restful(
            f"composite/sobjects/{sobject}", params={"ids": ",".join(chunk), "fields": names}
        )
        for row in rows:
            if row is not None:
                out[row["Id"]] = {k: v for k, v in row.items() if k != "attributes"}
    return out


def parse_sf_datetime(value: str) -> datetime:
    """A Salesforce date-time string as an aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def owner_writes(sim: SimulatorHandle, since: int) -> dict[str, int]:
    """How many OwnerId writes leadfleet made per lead, from the simulator's change log."""
    counts: dict[str, int] = {}
    for entry in sim.change_log(since):
        if entry.entity != "Lead" or entry.change_type != "UPDATE":
            continue
        if "OwnerId" not in entry.changed_fields or not entry.origin.endswith(LEADFLEET_CLIENT):
            continue
        for record_id in entry.record_ids:
            counts[record_id] = counts.get(record_id, 0) + 1
    return counts
