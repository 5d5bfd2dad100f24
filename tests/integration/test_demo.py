"""`python -m cli.demo` end to end: real processes, Redis, the simulator; its summary against the
org's own rows; and no process left behind, whether the run ends or is interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis

from tests.integration.redis_databases import claimed_redis_db

pytestmark = [pytest.mark.integration, pytest.mark.timeout(200)]

REPO = Path(__file__).resolve().parents[2]
REDIS_HOST = "127.0.0.1"
MARKER = "DEMO_TEST_RUN_ID"


@pytest.fixture
def redis_db() -> Iterator[int]:
    """A Redis database of our own, claimed like the other suites claim theirs."""
    with claimed_redis_db(range(15, 0, -1)) as db:
        yield db


def demo_env(run_id: str, redis_url: str) -> dict[str, str]:
    """The caller's environment without LEADFLEET_* settings, marked so the run's processes can
    be found afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    env.update({"REDIS_URL": redis_url, MARKER: run_id, "PYTHONUNBUFFERED": "1"})
    return env


def marked_processes(run_id: str) -> list[int]:
    """Pids of every process that inherited this run's marker."""
    needle = f"{MARKER}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def reap(run_id: str) -> None:
    """SIGKILL whatever this run left behind, so a failed test leaks no process."""
    for pid in marked_processes(run_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def finish(runner: subprocess.Popen[str], timeout: float) -> str:
    """The runner's output once it has ended; interrupted like Ctrl-C if it runs too long."""
    try:
        output, _ = runner.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        runner.send_signal(signal.SIGINT)
        try:
            output, _ = runner.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            runner.kill()
            output, _ = runner.communicate()
    return output


def start_demo(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def demo_command(tmp_path: Path, redis_db: int, leads: int, minutes: float) -> list[str]:
    return [
        sys.executable, "-m", "cli.demo",
        "--leads", str(leads), "--minutes", str(minutes), "--seed", "11",
        "--state-dir", str(tmp_path / "state"), "--log-dir", str(tmp_path / "logs"),
        "--flywheel-dir", str(tmp_path / "flywheel"),
        "--redis-db", str(redis_db), "--summary-json", str(tmp_path / "summary.json"),
        "--drain-timeout", "60", "--concurrency", "4",
    ]  # fmt: skip


def storage_time(soql_literal: str) -> str:
    """A SOQL literal (2024-05-01T09:30:00Z) in the org database's text form."""
    moment = datetime.strptime(soql_literal, "%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def seconds_between(start: str, end: str) -> float:
    fmt = "%Y-%m-%dT%H:%M:%S.%f%z"
    return (datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds()


def org_state(database: Path, since: str) -> dict[str, object]:
    """The numbers the summary claims, computed straight from the org's tables."""
    db = sqlite3.connect(database)
    try:
        leads = db.execute(
            "SELECT Id, CreatedDate, Owner_Assigned_At__c, First_Response_At__c, "
            "Suggested_Template__c FROM Lead WHERE CreatedDate >= ?",
            (since,),
        ).fetchall()
        answered = {
            row[0]
            for row in db.execute(
                "SELECT WhoId FROM Task WHERE Status = 'Completed' AND CreatedDate >= ? "
                "UNION SELECT RelatedToId FROM EmailMessage WHERE Incoming = 0 AND CreatedDate >= ?",
                (since, since),
            )
        }
    finally:
        db.close()
    latencies = sorted(seconds_between(created, assigned) for _, created, assigned, _, _ in leads
                       if assigned)  # fmt: skip
    return {
        "leads_created": len(leads),
        "leads_routed": len(latencies),
        "latency_median_seconds": statistics.median(latencies),
        "latency_p95_seconds": statistics.quantiles(latencies, n=20, method="inclusive")[-1],
        "responses_detected": sum(1 for lead in leads if lead[3]),
        "templates_suggested": sum(1 for lead in leads if lead[4]),
        "answered_leads": len({lead[0] for lead in leads} & answered),
    }


def test_the_summary_agrees_with_the_org_and_no_process_outlives_the_run(
    tmp_path: Path, redis_db: int
) -> None:
    """A short run exits 0, routes every lead, and its summary equals the org's own numbers."""
    run_id = uuid.uuid4().hex
    redis_url = f"redis://{REDIS_HOST}:6379/0"
    runner = start_demo(
        demo_command(tmp_path, redis_db, leads=20, minutes=0.4), demo_env(run_id, redis_url)
    )
    try:
        output = finish(runner, timeout=170)
        left_behind = marked_processes(run_id)
    finally:
        reap(run_id)
    assert runner.returncode == 0, output[-6000:]
    assert left_behind == []
    summary = json.loads((tmp_path / "summary.json").read_text())
    truth = org_state(tmp_path / "state" / "org.sqlite3", storage_time(summary["since"]))
    dead_letters = redis.Redis(host=REDIS_HOST, db=redis_db).xlen("leadfleet:deadletter")
    assert summary["outcome"] == "completed"
    assert summary["leads_created"] == truth["leads_created"] == 20
    assert summary["leads_routed"] == truth["leads_routed"] == 20
    assert summary["latency_median_seconds"] == pytest.approx(
        truth["latency_median_seconds"], abs=1e-3
    )
    assert summary["latency_p95_seconds"] == pytest.approx(truth["latency_p95_seconds"], abs=1e-3)
    assert summary["responses_detected"] == truth["responses_detected"] == truth["answered_leads"]
    assert summary["templates_suggested"] == truth["templates_suggested"]
    assert summary["dead_letters"] == dead_letters
    assert "Leads routed" in output
    routing_records = [
        line
        for path in (tmp_path / "flywheel").glob("lead.route_*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(routing_records) == 20


def test_sigint_mid_run_stops_every_process_it_started(tmp_path: Path, redis_db: int) -> None:
    """Ctrl-C while leads are flowing ends the run with 130 and leaves nothing running, the
    private redis-server included (REDIS_URL points at a closed port here)."""
    run_id = uuid.uuid4().hex
    closed_port = _closed_port()
    log = tmp_path / "logs" / "fleet.log"
    runner = start_demo(
        demo_command(tmp_path, redis_db, leads=200, minutes=2),
        demo_env(run_id, f"redis://127.0.0.1:{closed_port}/0"),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and runner.poll() is None:
            if log.is_file() and '"event": "lead_created"' in log.read_text(errors="replace"):
                break
            time.sleep(0.2)
        assert runner.poll() is None, finish(runner, 1)[-4000:]
        started = {name for name in ("redis", "simulator", "listener", "worker", "traffic")
                   if f"{name:<10} | started" in log.read_text(errors="replace")}  # fmt: skip
        assert started == {"redis", "simulator", "listener", "worker", "traffic"}
        assert len(marked_processes(run_id)) >= 5
        runner.send_signal(signal.SIGINT)
        output = finish(runner, timeout=90)
        left_behind = marked_processes(run_id)
    finally:
        if runner.poll() is None:
            finish(runner, timeout=0.1)
        reap(run_id)
    assert runner.returncode == 130, output[-4000:]
    assert "SIGINT received" in output
    assert left_behind == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
