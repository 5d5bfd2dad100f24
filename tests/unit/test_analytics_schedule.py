"""Beat's schedule and redbeat lock come from settings; a lock that could lapse is refused."""

from __future__ import annotations

import pytest
from celery.schedules import crontab

from shared.errors import ConfigError
from shared.messages import Queue, TaskName
from shared.settings import AnalyticsSettings, LeadfleetSettings, load_settings
from workers.app import beat_config


def test_schedule_sends_each_job_to_its_queue_and_expires_it() -> None:
    """Flush, reports, sweeper and alerts are scheduled by name on their queues, with expiry."""
    settings = LeadfleetSettings(
        analytics=AnalyticsSettings(report_interval_seconds=1800, sla_sweep_interval_seconds=120)
    )
    schedule = beat_config(settings)["beat_schedule"]
    assert {
        name: (entry["task"], entry["options"]["queue"]) for name, entry in schedule.items()
    } == {
        "flywheel-flush": (TaskName.FLYWHEEL_FLUSH.value, Queue.FLYWHEEL.value),
        "report-today": (TaskName.ANALYTICS_REPORT.value, Queue.ANALYTICS.value),
        "report-yesterday": (TaskName.ANALYTICS_REPORT.value, Queue.ANALYTICS.value),
        "sla-sweep": (TaskName.SLA_SWEEP.value, Queue.FIRST_TOUCH_DETECT.value),
        "alert-checks": (TaskName.ANALYTICS_ALERTS.value, Queue.ANALYTICS.value),
    }
    assert schedule["report-today"]["kwargs"] == {"day": "today"}
    assert schedule["report-yesterday"]["kwargs"] == {"day": "yesterday"}
    assert schedule["report-yesterday"]["schedule"] == crontab(minute=30, hour=0)
    assert (
        schedule["report-today"]["schedule"],
        schedule["report-today"]["options"]["expires"],
    ) == (1800, 1800)
    assert schedule["sla-sweep"]["schedule"] == 120


def test_redbeat_lock_is_explicit_and_short() -> None:
    """redbeat gets its own Redis URL, a prefixed lock, and a lock timeout under a minute."""
    settings = LeadfleetSettings(redis={"url": "redis://redis:6379/3", "key_prefix": "acme"})
    config = beat_config(settings)
    assert config["beat_scheduler"] == "workers.app:FleetScheduler"
    assert config["redbeat_redis_url"] == "redis://redis:6379/3"
    assert config["redbeat_key_prefix"] == "acme:redbeat:"
    assert config["redbeat_lock_timeout"] <= 60
    assert config["redbeat_lock_timeout"] >= 3 * config["beat_max_loop_interval"]


def test_a_lock_shorter_than_three_loops_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock that could expire between two ticks (LockNotOwnedError loops) fails at start-up."""
    monkeypatch.setenv("LEADFLEET_ANALYTICS__BEAT_MAX_LOOP_INTERVAL_SECONDS", "10")
    monkeypatch.setenv("LEADFLEET_ANALYTICS__BEAT_LOCK_TIMEOUT_SECONDS", "20")
    with pytest.raises(ConfigError, match="LEADFLEET_ANALYTICS"):
        load_settings()
