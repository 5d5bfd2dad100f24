"""The demo runner's own rules: when a run is over, how the summary is computed, what reaches the
log, and that stopping the fleet leaves no process behind (local processes, no network)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.demo import DemoOptions, org_env, redact_secrets
from cli.demo_fleet import Fleet, with_db
from cli.demo_progress import DrainWatch, Progress, latency_stats, summarize

QUEUES_EMPTY = {"lead.route": 0, "outreach.template_suggest": 0}


def reading(created: int = 10, routed: int = 10, queued: int = 0, in_flight: int = 0) -> Progress:
    return Progress(
        created=created,
        routed=routed,
        responses=5,
        templates=routed,
        dead_letters=0,
        queues={**QUEUES_EMPTY, "lead.route": queued},
        in_flight=in_flight,
    )


# (reading or None, traffic done, seconds) per observation -> state after the last one
SCENARIOS = [
    ([(reading(), False, 0), (reading(), False, 10)], "running"),
    ([(reading(), True, 0), (reading(), True, 1), (reading(), True, 4)], "drained"),
    ([(reading(), True, 0), (reading(), True, 1), (reading(), True, 2)], "running"),
    ([(reading(routed=8), True, 0), (reading(routed=9), True, 3), (reading(), True, 5)], "running"),
    ([(reading(queued=2), True, 0), (reading(queued=2), True, 5)], "running"),
    ([(reading(in_flight=1), True, 0), (reading(in_flight=1), True, 5)], "running"),
    ([(reading(), True, 0), (reading(), True, 1), (None, True, 4)], "drained"),
    ([(reading(queued=1), True, 0), (reading(queued=1), True, 61)], "timed_out"),
    ([(reading(queued=1), False, 0), (reading(queued=1), False, 500)], "running"),
]
SCENARIO_IDS = [
    "traffic-still-running",
    "idle-and-unchanged-for-the-settle-time",
    "idle-but-not-yet-settled",
    "counts-still-moving",
    "messages-queued",
    "a-task-in-flight",
    "a-failed-reading-keeps-the-quiet",
    "timeout-after-the-traffic-ended",
    "no-timeout-while-the-traffic-runs",
]


@pytest.mark.parametrize(("observations", "expected"), SCENARIOS, ids=SCENARIO_IDS)
def test_a_run_ends_once_the_traffic_is_done_and_the_fleet_settles(
    observations: list[tuple[Progress | None, bool, float]], expected: str
) -> None:
    """The summary is taken only when nothing is left to do, or when waiting is pointless."""
    watch = DrainWatch(settle_seconds=3, timeout_seconds=60)
    states = [watch.observe(progress, done, now) for progress, done, now in observations]
    assert states[-1] == expected


def test_the_summary_is_computed_from_the_orgs_rows() -> None:
    """Routed leads give the latencies; unrouted ones count as created only."""
    rows = [
        {
            "CreatedDate": "2026-01-05T10:00:00.000+0000",
            "Owner_Assigned_At__c": f"2026-01-05T10:00:0{n}.500+0000",
            "First_Response_At__c": "2026-01-05T10:05:00.000+0000" if n % 2 else None,
            "Suggested_Template__c": "pricing_v1",
        }
        for n in range(5)
    ] + [{"CreatedDate": "2026-01-05T10:00:00.000+0000", "Owner_Assigned_At__c": None}]
    summary = summarize(rows, dead_letters=2, since=datetime(2026, 1, 5, 9, 59, tzinfo=UTC))
    assert summary.leads_created == 6
    assert summary.leads_routed == 5
    assert summary.latency_median_seconds == 2.5
    assert summary.latency_p95_seconds == pytest.approx(4.3)
    assert summary.responses_detected == 2
    assert summary.templates_suggested == 5
    assert summary.dead_letters == 2
    assert summary.since == "2026-01-05T09:59:00Z"


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], (None, None)), ([1.5], (1.5, 1.5)), ([1.0, 2.0, 3.0, 4.0], (2.5, 3.85))],
    ids=["no-routed-lead", "one-lead", "several-leads"],
)
def test_latency_median_and_p95(values: list[float], expected: tuple[float | None, ...]) -> None:
    """p95 interpolates between ranks (inclusive method), as pandas and numpy do by default."""
    median, p95 = latency_stats(values)
    assert (median, None if p95 is None else round(p95, 6)) == expected


def test_secret_values_never_reach_the_fleet_log() -> None:
    """The simulator's start-up line names the consumer key; the log keeps everything else."""
    line = '{"instance_url": "https://127.0.0.1:1", "consumer_key": "3MVG9abc", "api_key": "sk"}'
    redacted = redact_secrets(line)
    assert "3MVG9abc" not in redacted
    assert '"api_key": "***"' in redacted
    assert '"instance_url": "https://127.0.0.1:1"' in redacted


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/10"),
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379/10"),
        (
            "rediss://:pw@host:6380/3?ssl_cert_reqs=none",
            "rediss://:pw@host:6380/10?ssl_cert_reqs=none",
        ),
    ],
    ids=["replaces-the-db", "adds-a-db", "keeps-credentials-and-options"],
)
def test_the_demo_gets_its_own_redis_database(url: str, expected: str) -> None:
    """REDIS_URL's server is used, on the demo's own database, so runs do not mix with others."""
    assert with_db(url, 10) == expected


def test_the_fleet_points_at_the_simulator_that_started() -> None:
    """Listener and workers get the simulator's URLs, key, CA and Pub/Sub address."""
    connection = {
        "instance_url": "https://127.0.0.1:4443",
        "login_url": "https://127.0.0.1:4443",
        "ca_bundle": "/s/ca.pem",
        "consumer_key": "3MVG9key",
        "username": "integration@org7.example",
        "private_key_path": "/s/key.pem",
        "pubsub_target": "127.0.0.1:7444",
    }
    offline = org_env(connection, DemoOptions())
    assert offline["LEADFLEET_LISTENER__PUBSUB_HOST"] == "127.0.0.1"
    assert offline["LEADFLEET_LISTENER__PUBSUB_PORT"] == "7444"
    assert offline["LEADFLEET_SALESFORCE__CA_BUNDLE"] == "/s/ca.pem"
    assert "LEADFLEET_LLM__API_KEY" not in offline
    with_llm = org_env(connection, DemoOptions(llm="simulator"))
    assert with_llm["LEADFLEET_LLM__BASE_URL"] == "https://127.0.0.1:4443"
    assert with_llm["LEADFLEET_LLM__API_KEY"].startswith("sk-ant-")


# -- supervision: real local processes --------------------------------------------------------

STUBBORN = (
    f'exec {sys.executable} -c "import signal, subprocess, time; '
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen(['sleep', '60']); print('up', flush=True); time.sleep(60)\""
)


def test_stopping_kills_a_process_group_that_ignores_sigterm(tmp_path: Path) -> None:
    """A process that ignores SIGTERM, and the child it started, are both gone after stop()."""
    fleet = Fleet(tmp_path / "fleet.log", tmp_path)
    stubborn = fleet.start("stubborn", STUBBORN, {"PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 10
    while "up" not in stubborn.lines and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stubborn.group_alive()
    fleet.stop(grace_seconds=0.5)
    fleet.close()
    assert not stubborn.group_alive()
    assert "killing stubborn" in (tmp_path / "fleet.log").read_text()


def test_a_process_that_dies_is_reported_with_its_last_lines(tmp_path: Path) -> None:
    """The runner can say which process failed and show what it printed."""
    fleet = Fleet(tmp_path / "fleet.log", tmp_path)
    crashing = fleet.start("listener", "echo 'cannot reach Redis' && exit 3", {"PATH": "/bin"})
    assert crashing.finished.wait(10)
    dead = fleet.died()
    fleet.stop()
    fleet.close()
    assert dead is crashing
    assert dead.returncode == 3
    assert dead.tail() == ["cannot reach Redis"]


def test_a_one_off_that_finishes_cleanly_is_not_a_failure(tmp_path: Path) -> None:
    """The traffic generator ends on its own; exit code 0 is not a death."""
    fleet = Fleet(tmp_path / "fleet.log", tmp_path)
    traffic = fleet.start("traffic", "exit 0", {"PATH": "/bin"}, may_exit=True)
    assert traffic.finished.wait(10)
    assert fleet.died() is None
    fleet.stop()
    fleet.close()
