"""Listener throughput: change events per second, from gRPC receive to the message in Redis.

A simulator runs as its own process; a few thousand Lead and Task changes are created before
the listener starts, and one listener (this process, gRPC mode, EARLIEST) replays them:
receive, decode Avro, normalize, dispatch, enqueue on the Celery queues in Redis, checkpoint.
The clock runs from the listener's start until every topic's checkpoint reached the newest
event. The same replay with an in-memory producer shows what the Redis enqueue costs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import requests
from rich.console import Console
from rich.table import Table

from listener.app import build_listener
from listener.replay_store import ReplayStore
from shared.queue_producer import FakeProducer, Producer
from shared.settings import LeadfleetSettings, ListenerSettings, RedisSettings, SalesforceSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "listener.json"
TOPICS = ("/data/LeadChangeEvent", "/data/TaskChangeEvent")
LEADS = 3000
TASKS = 2000
REDIS_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Run:
    """One measured replay."""

    scenario: str
    events: int
    messages: int
    seconds: float
    events_per_second: float
    mean_enqueue_ms: float | None


@contextmanager
def simulator_process(state_dir: Path) -> Iterator[dict[str, Any]]:
    """`python -m simulator` on free ports; yields its start-up connection document."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "simulator", "--port", "0", "--pubsub-port", "0",
            "--state-dir", str(state_dir), "--pubsub-keepalive-seconds", "0.2",
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis database of 12-15 claimed like the tests claim theirs, emptied before and after."""
    registry = redis.Redis(host=REDIS_HOST, db=0)
    claims = {db: f"leadfleet:test:redis-db-claim:{db}" for db in range(15, 11, -1)}
    db = next(
        (d for d, key in claims.items() if registry.set(key, os.getpid(), nx=True, ex=900)), 0
    )
    if not db:
        raise RuntimeError("no free Redis database (12-15 are claimed by running tests)")
    claim = claims[db]
    client = redis.Redis(host=REDIS_HOST, db=db)
    client.flushdb()
    try:
        yield f"redis://{REDIS_HOST}:6379/{db}"
    finally:
        client.flushdb()
        registry.delete(claim)


def settings_for(info: dict[str, Any], redis_url: str) -> LeadfleetSettings:
    host, port = str(info["pubsub_target"]).rsplit(":", 1)
    return LeadfleetSettings(
        salesforce=SalesforceSettings(
            login_url=info["login_url"],
            consumer_key=info["consumer_key"],
            username=info["username"],
            private_key_path=Path(info["private_key_path"]),
            ca_bundle=Path(info["ca_bundle"]),
        ),
        redis=RedisSettings(url=redis_url, key_prefix=f"bench-{uuid.uuid4().hex[:8]}"),
        listener=ListenerSettings(
            topics=list(TOPICS),
            pubsub_host=host,
            pubsub_port=int(port),
            initial_replay_preset="EARLIEST",
            batch_size=100,
        ),
    )


def create_changes(info: dict[str, Any], token: str) -> int:
    """Create the leads and completed tasks through sObject Collections; returns how many."""
    session = requests.Session()
    session.verify = info["ca_bundle"]
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{info['instance_url']}/services/data/v62.0/composite/sobjects"
    lead_ids: list[str] = []
    for start in range(0, LEADS, 200):
        records = [
            {"attributes": {"type": "Lead"}, "LastName": f"Bench {i}", "Company": f"Co {i}",
             "Email": f"bench{i}@example.com", "Country": "Germany", "NumberOfEmployees": i}
            for i in range(start, min(LEADS, start + 200))
        ]  # fmt: skip
        response = session.post(url, json={"allOrNone": True, "records": records}, timeout=60)
        response.raise_for_status()
        lead_ids += [r["id"] for r in response.json()]
    for start in range(0, TASKS, 200):
        records = [
            {"attributes": {"type": "Task"}, "WhoId": lead_ids[i % len(lead_ids)],
             "Status": "Completed", "Type": "Call", "Subject": "Intro call"}
            for i in range(start, min(TASKS, start + 200))
        ]  # fmt: skip
        response = session.post(url, json={"allOrNone": True, "records": records}, timeout=60)
        response.raise_for_status()
    return LEADS + TASKS


def access_token(info: dict[str, Any]) -> str:
    import jwt

    claims = {
        "iss": info["consumer_key"],
        "sub": info["username"],
        "aud": info["login_url"],
        "exp": int(time.time()) + 180,
    }
    assertion = jwt.encode(claims, Path(info["private_key_path"]).read_bytes(), algorithm="RS256")
    response = requests.post(
        f"{info['login_url']}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        verify=info["ca_bundle"],
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def latest_position(info: dict[str, Any]) -> bytes:
    """The newest change's replay id: every event the listener must reach."""
    session = requests.Session()
    session.verify = info["ca_bundle"]
    session.trust_env = False
    response = session.get(f"{info['instance_url']}/__sim/changes?limit=1", timeout=30)
    response.raise_for_status()
    position = int(response.json()["latest_position"])
    return position.to_bytes(8, "big") + b"\x00\x00"


def replay(
    scenario: str, settings: LeadfleetSettings, events: int, done: Callable[[], bool],
    producer: Producer | None = None,
) -> Run:  # fmt: skip
    """Start a listener from EARLIEST and time it until `done`."""
    listener = build_listener(settings, "grpc", health=False, producer=producer)
    started = time.perf_counter()
    listener.start()
    try:
        while not done():
            time.sleep(0.01)
        seconds = time.perf_counter() - started
    finally:
        listener.stop(grace_seconds=10)
    [family] = listener.metrics.enqueue_latency.collect()
    histogram = family.samples
    count = next(s.value for s in histogram if s.name.endswith("_count"))
    total = next(s.value for s in histogram if s.name.endswith("_sum"))
    messages = int(count)
    return Run(
        scenario=scenario,
        events=events,
        messages=messages,
        seconds=round(seconds, 3),
        events_per_second=round(events / seconds, 1),
        mean_enqueue_ms=round(total / count * 1000, 3) if count else None,
    )


def run() -> list[Run]:
    """Both scenarios against one simulator; results printed and written to RESULTS."""
    console = Console()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as state_dir, simulator_process(Path(state_dir)) as info:
        token = access_token(info)
        console.print(f"creating {LEADS} leads and {TASKS} completed tasks in the simulator…")
        events = create_changes(info, token)
        latest = latest_position(info)
        for scenario, fake in (
            ("grpc → redis (celery)", False),
            ("grpc → in-memory producer", True),
        ):
            with redis_database() as url:
                settings = settings_for(info, url)
                store = ReplayStore(redis.Redis.from_url(url), settings.redis.key_prefix)
                producer = FakeProducer() if fake else None

                def drained(store: ReplayStore = store) -> bool:
                    return all(store.get(topic) == latest for topic in TOPICS)

                runs.append(replay(scenario, settings, events, drained, producer))
    table = Table(title="listener throughput (one process, gRPC/TLS from the simulator)")
    for column in ("scenario", "events", "messages", "seconds", "events/s", "mean enqueue ms"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for result in runs:
        table.add_row(
            result.scenario, str(result.events), str(result.messages), f"{result.seconds:.2f}",
            f"{result.events_per_second:,.0f}",
            "-" if result.mean_enqueue_ms is None else f"{result.mean_enqueue_ms:.3f}",
        )  # fmt: skip
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "listener_throughput",
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"written to {RESULTS.relative_to(ROOT)}")
    return runs
