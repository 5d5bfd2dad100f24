"""The send-only producer puts each message on its Celery queue in real Redis, as a worker reads it."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from shared.messages import LeadCreatedMessage, Queue, ResponseActivityMessage
from shared.queue_producer import QueuePublishError, build_producer, peek_queue, task_id
from shared.settings import RedisSettings
from tests.integration.redis_databases import claimed_redis_url

pytestmark = pytest.mark.integration

COMMON = {
    "topic": "/data/LeadChangeEvent", "replay_id": "0a", "entity": "Lead",
    "change_type": "CREATE", "commit_timestamp": datetime(2026, 1, 5, tzinfo=UTC),
    "commit_user": "005000000000001AAA",
}  # fmt: skip


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of our own (Celery queue keys have fixed names)."""
    with claimed_redis_url() as url:
        yield url


def test_messages_land_on_their_queue_as_celery_json_tasks(redis_url: str) -> None:
    """Each message is a kombu JSON envelope on its queue's list, task name in the headers."""
    producer = build_producer(RedisSettings(url=redis_url))
    lead = LeadCreatedMessage(
        event_id="e1", record_id="00Q000000000001AAA", fields={"Company": "Acme"}, **COMMON
    )  # type: ignore[arg-type]
    task = ResponseActivityMessage(event_id="e2", record_id="00T000000000001AAA", source="Task",
                                   lead_id="00Q000000000001AAA", **COMMON)  # type: ignore[arg-type]  # fmt: skip
    try:
        producer.send(lead)
        producer.send(task)
    finally:
        producer.close()
    client = redis.Redis.from_url(redis_url)
    [raw] = client.lrange(Queue.LEAD_ROUTE.value, 0, -1)
    envelope = json.loads(raw)
    args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
    assert envelope["content-type"] == "application/json"
    assert envelope["headers"]["task"] == "lead.route"
    assert envelope["headers"]["id"] == task_id(lead)
    assert (args, kwargs) == ([lead.model_dump(mode="json")], {})
    assert peek_queue(client, Queue.LEAD_ROUTE) == [lead]
    assert peek_queue(client, Queue.FIRST_TOUCH_DETECT) == [task]


def test_an_unreachable_broker_is_a_retryable_error() -> None:
    """When Redis cannot be reached after the retries, send raises instead of losing the message."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    producer = build_producer(
        RedisSettings(url=f"redis://127.0.0.1:{port}/0", socket_timeout_seconds=0.5), max_retries=1
    )
    lead = LeadCreatedMessage(event_id="e1", record_id="00Q000000000001AAA", **COMMON)  # type: ignore[arg-type]
    try:
        with pytest.raises(QueuePublishError):
            producer.send(lead)
    finally:
        producer.close()
