"""The worker fleet's Celery app, built from settings: `celery -A workers.app worker -Q ...`.

Creating the app connects to nothing; the broker is reached when a worker starts or a task is
sent. Reliability settings (see the Celery reference, sections 1 and 11):

- acks late, prefetch 1: a message is acknowledged only after its task returns, so a worker
  that dies mid-task leaves it unacknowledged for another worker to take;
- task_retry_on_worker_lost: a task whose pool process dies is sent again as a retry,
  bounded by the task's max_retries, instead of being acknowledged and lost;
- one visibility timeout in all three places the Redis transport reads it, longer than a task's
  run time plus its longest countdown (settings enforce this), with kombu's restore sweep on
  every interval rather than every tenth, so an abandoned message comes back promptly;
- soft shutdown, also when idle: a stopping worker hands its unacknowledged and countdown
  messages back at once rather than leaving them to the visibility timeout;
- broker connection retried at start-up and forever after; JSON only; no result backend.

The thread pool suits these tasks: they spend their time waiting on Salesforce and the LLM,
threads share one process's connections and token cache, and every HTTP call has its own
timeout because the thread pool enforces no task time limits.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging, worker_process_init
from redbeat import RedBeatScheduler

from shared.logs import configure_logging
from shared.messages import TASK_QUEUES, TaskName
from shared.settings import LeadfleetSettings, get_settings
from workers.deps import reset_deps

__all__ = ["app", "create_app"]

# Queued countdown messages one worker may hold in memory (they are not bounded by prefetch).
ETA_TASK_LIMIT = 1000
HEALTH_CHECK_INTERVAL_SECONDS = 25


def celery_config(settings: LeadfleetSettings) -> dict[str, Any]:
    """The Celery configuration the settings describe."""
    workers = settings.workers
    visibility = workers.visibility_timeout_seconds
    socket_timeout = settings.redis.socket_timeout_seconds
    return {
        "broker_url": settings.redis.url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": {
            "visibility_timeout": visibility,
            "unacked_restore_interval": workers.unacked_restore_interval_seconds,
            "unacked_restore_throttle": 1,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        },
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "visibility_timeout": visibility,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_routes": {name.value: {"queue": queue.value} for name, queue in TASK_QUEUES.items()},
        "task_acks_late": True,
        "task_reject_on_worker_lost": False,
        "task_retry_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_eta_task_limit": ETA_TASK_LIMIT,
        "worker_soft_shutdown_timeout": workers.soft_shutdown_timeout_seconds,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_hijack_root_logger": False,
        **beat_config(settings),
    }


class FleetScheduler(RedBeatScheduler):  # type: ignore[misc]
    """redbeat's scheduler without Celery's default result-cleanup entry.

    The fleet keeps no results, yet beat would add celery.backend_cleanup and send it daily to
    the default queue, which no worker consumes.
    """

    def install_default_entries(self, data: Any) -> None:
        """Add nothing: every entry comes from beat_schedule."""


def beat_config(settings: LeadfleetSettings) -> dict[str, Any]:
    """Beat on celery-redbeat: the schedule in Redis behind a lock, so a second beat only waits.

    redbeat extends its lock on every loop; a beat killed without releasing it is replaced
    once the lock times out (settings keep that under a minute and above three loops).
    """
    analytics = settings.analytics
    socket_timeout = settings.redis.socket_timeout_seconds
    return {
        "beat_scheduler": "workers.app:FleetScheduler",
        "beat_max_loop_interval": analytics.beat_max_loop_interval_seconds,
        "redbeat_redis_url": settings.redis.url,
        "redbeat_redis_options": {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
        },
        "redbeat_key_prefix": f"{settings.redis.key_prefix}:redbeat:",
        "redbeat_lock_timeout": analytics.beat_lock_timeout_seconds,
        "beat_schedule": beat_schedule(settings),
    }


def beat_schedule(settings: LeadfleetSettings) -> dict[str, dict[str, Any]]:
    """What beat sends and when; each entry expires after its interval so a backlog never piles up."""
    analytics = settings.analytics

    def every(seconds: float, task: TaskName, **kwargs: Any) -> dict[str, Any]:
        queue = TASK_QUEUES[task].value
        options = {"queue": queue, "expires": seconds}
        return {"task": task.value, "schedule": seconds, "kwargs": kwargs, "options": options}

    daily = crontab(minute=analytics.daily_report_minute, hour=analytics.daily_report_hour_utc)
    return {
        "flywheel-flush": every(analytics.flywheel_flush_interval_seconds, TaskName.FLYWHEEL_FLUSH),
        "report-today": every(
            analytics.report_interval_seconds, TaskName.ANALYTICS_REPORT, day="today"
        ),
        "report-yesterday": {
            "task": TaskName.ANALYTICS_REPORT.value,
            "schedule": daily,
            "kwargs": {"day": "yesterday"},
            "options": {"queue": TASK_QUEUES[TaskName.ANALYTICS_REPORT].value, "expires": 3600},
        },
        "sla-sweep": every(analytics.sla_sweep_interval_seconds, TaskName.SLA_SWEEP),
        "alert-checks": every(analytics.alerts_interval_seconds, TaskName.ANALYTICS_ALERTS),
    }


def create_app(settings: LeadfleetSettings) -> Celery:
    """A Celery app configured from settings, with the workload tasks registered on import."""
    celery_app = Celery("leadfleet", include=["workers.tasks"], set_as_current=False)
    celery_app.conf.update(celery_config(settings))
    return celery_app


@setup_logging.connect  # type: ignore[untyped-decorator]
def _configure_logging(**_: Any) -> None:
    # Connecting here stops Celery from installing its own text formatter.
    configure_logging(quiet=("kombu", "urllib3", "celery.worker.strategy", "celery.app.trace"))


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_deps_in_child(**_: Any) -> None:
    # A forked pool process must not reuse the parent's sockets.
    reset_deps()


app = create_app(get_settings())
