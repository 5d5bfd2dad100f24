"""Beat on celery-redbeat: two beat processes started together send one task per tick, and a
killed beat is replaced by the waiting one (real `celery beat` subprocesses, real Redis)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.redis_databases import claimed_redis_url

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
TICK_SECONDS = 2
LOCK_SECONDS = 6


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A database of our own: redbeat's and Celery's queue keys have fixed names."""
    with claimed_redis_url() as url:
        yield url


@dataclass
class Beat:
    """One `celery beat` process group and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def holds_lock(self) -> bool:
        return "beat: Acquired lock" in self.log()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def beat_env(redis_url: str, prefix: str) -> dict[str, str]:
    """A schedule where only today's report is due often; the rest are an hour away."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    env.update(
        {
            "LEADFLEET_REDIS__URL": redis_url,
            "LEADFLEET_REDIS__KEY_PREFIX": prefix,
            "LEADFLEET_ANALYTICS__REPORT_INTERVAL_SECONDS": str(TICK_SECONDS),
            "LEADFLEET_ANALYTICS__FLYWHEEL_FLUSH_INTERVAL_SECONDS": "3600",
            "LEADFLEET_ANALYTICS__SLA_SWEEP_INTERVAL_SECONDS": "3600",
            "LEADFLEET_ANALYTICS__ALERTS_INTERVAL_SECONDS": "3600",
            "LEADFLEET_ANALYTICS__BEAT_MAX_LOOP_INTERVAL_SECONDS": "1",
            "LEADFLEET_ANALYTICS__BEAT_LOCK_TIMEOUT_SECONDS": str(LOCK_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_beat(env: dict[str, str], log_path: Path) -> Beat:
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [str(CELERY), "-A", "workers.app", "beat", "-l", "INFO",
             "--schedule", str(log_path.with_suffix(".schedule"))],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Beat(process, log_path)


def report_messages(client: redis.Redis) -> list[dict[str, Any]]:
    """The kwargs of every analytics.report message waiting on the analytics queue."""
    found = []
    for raw in client.lrange("analytics", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] != "analytics.report":
            continue
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        found.append(kwargs)
    return found


def send_times(client: redis.Redis) -> list[datetime]:
    """When each report was sent: its expiry (send time plus the interval) less the interval."""
    times = []
    for raw in client.lrange("analytics", 0, -1):
        expires = json.loads(raw)["headers"]["expires"]
        times.append(datetime.fromisoformat(expires) - timedelta(seconds=TICK_SECONDS))
    return sorted(times)


def runs_recorded(client: redis.Redis, prefix: str) -> int:
    """How many times redbeat says it ran today's report (its entry's meta)."""
    meta = client.hget(f"{prefix}:redbeat:report-today", "meta")
    return int(json.loads(meta)["total_run_count"]) if meta else 0


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def beats(redis_url: str, tmp_path: Path) -> Iterator[tuple[list[Beat], redis.Redis, str]]:
    prefix = f"t-beat-{uuid.uuid4().hex[:8]}"
    env = beat_env(redis_url, prefix)
    started = [start_beat(env, tmp_path / "beat-a.log"), start_beat(env, tmp_path / "beat-b.log")]
    client = redis.Redis.from_url(redis_url)
    try:
        yield started, client, prefix
    finally:
        for beat in started:
            beat.stop()
        client.close()


def test_two_beats_send_one_report_per_tick(beats: tuple[list[Beat], redis.Redis, str]) -> None:
    """Only one of two beats started together holds the lock, and each tick sends one report."""
    started, client, prefix = beats
    wait_for(lambda: len(report_messages(client)) >= 5, 90, "five report ticks")
    # Standby first: stopped after the leader, it would take the released lock in between.
    for beat in sorted(started, key=lambda b: b.holds_lock()):
        beat.stop()
    messages = report_messages(client)
    assert sum(beat.holds_lock() for beat in started) == 1, [b.log()[-2000:] for b in started]
    standby = next(beat for beat in started if not beat.holds_lock())
    assert "Sending due task" not in standby.log()
    assert all(kwargs == {"day": "today"} for kwargs in messages)
    # One message per tick: consecutive sends are a tick apart, never two for the same tick.
    times = send_times(client)
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    assert min(gaps) > TICK_SECONDS / 2, gaps
    # Every message is one tick redbeat recorded; a second scheduler would add messages of its
    # own. redbeat records a tick just before sending it, so a beat stopped in between leaves
    # one tick recorded and not sent.
    runs = runs_recorded(client, prefix)
    assert runs - 1 <= len(messages) <= runs
    sent_lines = sum(b.log().count("Sending due task report-today") for b in started)
    assert len(messages) <= sent_lines <= len(messages) + 1
    # Only the fleet's entries: no result-cleanup task for a queue nobody consumes.
    entries = {
        k.decode().rsplit(":", 1)[1] for k in client.zrange(f"{prefix}:redbeat::schedule", 0, -1)
    }
    assert entries == {
        "flywheel-flush",
        "report-today",
        "report-yesterday",
        "sla-sweep",
        "alert-checks",
    }


def test_killed_beat_is_replaced_by_the_waiting_one(
    beats: tuple[list[Beat], redis.Redis, str],
) -> None:
    """SIGKILL the beat holding the lock: the other takes over once the lock times out."""
    started, client, prefix = beats
    wait_for(lambda: any(b.holds_lock() for b in started), 60, "a beat to take the lock")
    leader = next(b for b in started if b.holds_lock())
    standby = next(b for b in started if b is not leader)
    wait_for(lambda: len(report_messages(client)) >= 2, 60, "the leader's reports")
    leader.stop(signal.SIGKILL)
    before = len(report_messages(client))
    # The dead leader cannot release its lock; the standby waits out the lock timeout.
    wait_for(standby.holds_lock, 6 * LOCK_SECONDS, "the standby to take over")
    wait_for(lambda: len(report_messages(client)) >= before + 2, 60, "reports after takeover")
    standby.stop()
    # At most one tick each of the two beats recorded just before it was stopped.
    runs = runs_recorded(client, prefix)
    assert runs - 2 <= len(report_messages(client)) <= runs
