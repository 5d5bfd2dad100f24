"""The Celery app as configured from settings: queues, acks, visibility timeout, JSON only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.messages import TASK_QUEUES, TaskName
from shared.settings import LeadfleetSettings, WorkerSettings
from workers.app import celery_config, create_app


def test_each_task_is_routed_to_its_workloads_queue() -> None:
    """Routing by task name puts every workload on its own queue."""
    routes = celery_config(LeadfleetSettings())["task_routes"]
    assert routes == {name.value: {"queue": queue.value} for name, queue in TASK_QUEUES.items()}
    assert routes["lead.route"] == {"queue": "lead.route"}
    assert routes["outreach.template_suggest"] == {"queue": "outreach.template_suggest"}


def test_reliability_settings_are_on() -> None:
    """Late acks, prefetch 1, retry on a lost worker, soft shutdown, JSON only, startup retry."""
    conf = celery_config(LeadfleetSettings())
    assert conf["task_acks_late"] is True
    assert conf["task_retry_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["worker_enable_soft_shutdown_on_idle"] is True
    assert conf["worker_soft_shutdown_timeout"] > 0


def test_the_visibility_timeout_is_set_in_all_three_places() -> None:
    """The Redis transport reads it from three settings; all carry the same value."""
    settings = LeadfleetSettings(workers=WorkerSettings(visibility_timeout_seconds=1234))
    conf = celery_config(settings)
    assert conf["visibility_timeout"] == 1234
    assert conf["broker_transport_options"]["visibility_timeout"] == 1234
    assert conf["result_backend_transport_options"]["visibility_timeout"] == 1234
    assert conf["broker_transport_options"]["unacked_restore_throttle"] == 1


def test_a_visibility_timeout_shorter_than_a_run_plus_a_countdown_is_refused() -> None:
    """Otherwise a running or counting-down task is restored and runs twice."""
    with pytest.raises(ValidationError, match="visibility_timeout_seconds"):
        WorkerSettings(
            visibility_timeout_seconds=100, task_max_run_seconds=90, retry_backoff_max_seconds=30
        )


def test_the_app_registers_the_three_workloads_without_connecting() -> None:
    """Building the app and importing its tasks touches no broker."""
    app = create_app(LeadfleetSettings())
    app.loader.import_default_modules()
    import workers.tasks

    registered = set(workers.tasks.app.tasks)
    assert {
        TaskName.LEAD_ROUTE.value,
        TaskName.FIRST_TOUCH_DETECT.value,
        TaskName.TEMPLATE_SUGGEST.value,
    } <= registered
