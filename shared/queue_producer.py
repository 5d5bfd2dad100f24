"""Send queue messages to the workers' Celery queues in Redis, from any process, by task name.

The producer needs no task code: `send_task` publishes by name onto the message's own queue
(`TASK_QUEUES`), JSON only, with the message's model dump as the single argument. kombu's Redis
transport publishes with a synchronous LPUSH, so when `send` returns the message is in Redis; a
failed publish is retried per `retry_policy` and then raises `QueuePublishError` (retryable),
never returns quietly.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import celery
from kombu.exceptions import KombuError, OperationalError
from redis import Redis
from redis.exceptions import RedisError

from shared.errors import RetryableError
from shared.messages import AnyQueueMessage, Queue, QueueMessage, parse_queue_message
from shared.settings import RedisSettings

__all__ = [
    "CeleryProducer",
    "FakeProducer",
    "Producer",
    "QueuePublishError",
    "build_producer",
    "peek_queue",
    "task_id",
]

_TASK_ID_NAMESPACE = uuid.UUID("5b0e3c44-8f1e-4a43-9a53-1f5d0b0c7a11")


class QueuePublishError(RetryableError):
    """A message could not be put on its queue (Redis unreachable after the publish retries)."""


class Producer(Protocol):
    """Puts queue messages on their queues; returns only once the broker holds the message."""

    def send(self, message: QueueMessage) -> None:
        """Publish one message on `message.queue` as task `message.task_name`."""
        ...


def task_id(message: QueueMessage) -> str:
    """The Celery task id of a message: a UUID derived from its event_id, so resends share it."""
    return str(uuid.uuid5(_TASK_ID_NAMESPACE, f"{message.task_name}:{message.event_id}"))


class CeleryProducer:
    """Producer on a send-only Celery app (no result backend, no task imports)."""

    def __init__(self, app: celery.Celery, *, max_retries: int = 3) -> None:
        self._app = app
        self._retry_policy = {
            "max_retries": max_retries,
            "interval_start": 0.1,
            "interval_step": 0.5,
            "interval_max": 2.0,
        }

    def __repr__(self) -> str:
        return "CeleryProducer()"

    def send(self, message: QueueMessage) -> None:
        """Publish one message; QueuePublishError when Redis did not take it."""
        try:
            self._app.send_task(
                message.task_name.value,
                args=[message.model_dump(mode="json")],
                queue=message.queue.value,
                task_id=task_id(message),
                serializer="json",
                retry=True,
                retry_policy=self._retry_policy,
                # The task header shows the event, not the whole lead record.
                argsrepr=message.event_id,
                kwargsrepr="{}",
            )
        except (OperationalError, KombuError, RedisError, OSError) as exc:
            raise QueuePublishError(
                f"could not enqueue {message.task_name.value} for {message.event_id}: "
                f"{type(exc).__name__}"
            ) from exc

    def close(self) -> None:
        """Release the broker connections."""
        self._app.close()


def build_producer(redis_settings: RedisSettings, *, max_retries: int = 3) -> CeleryProducer:
    """A producer publishing to the Celery broker at `redis_settings.url`."""
    app = celery.Celery("leadfleet-producer", set_as_current=False)
    timeout = redis_settings.socket_timeout_seconds
    app.conf.update(
        broker_url=redis_settings.url,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Without a socket timeout a publish on a dead connection can hang forever.
        broker_transport_options={
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        },
    )
    return CeleryProducer(app, max_retries=max_retries)


@dataclass
class FakeProducer:
    """An in-memory Producer that records what was sent and can be told to fail."""

    sent: list[QueueMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    on_send: Callable[[QueueMessage], None] | None = None

    def send(self, message: QueueMessage) -> None:
        """Record the message, or raise the next queued failure."""
        if self.failures:
            raise self.failures.pop(0)
        if self.on_send is not None:
            self.on_send(message)
        self.sent.append(message)

    def fail_next(self, error: Exception | None = None) -> None:
        """Make the next send raise (QueuePublishError by default)."""
        self.failures.append(error or QueuePublishError("injected publish failure"))

    def on_queue(self, queue: Queue) -> list[QueueMessage]:
        """The messages sent to one queue, in order."""
        return [m for m in self.sent if m.queue == queue]


def peek_queue(redis: Redis, queue: Queue | str) -> list[AnyQueueMessage]:
    """The messages waiting on a Celery queue, oldest first, without taking them."""
    name = queue.value if isinstance(queue, Queue) else queue
    raw_entries: list[Any] = list(redis.lrange(name, 0, -1))
    messages: list[AnyQueueMessage] = []
    # kombu LPUSHes and workers BRPOP, so the oldest entry is the last in the list.
    for raw in reversed(raw_entries):
        envelope = json.loads(raw)
        body = base64.b64decode(envelope["body"])
        args, _kwargs, _embed = json.loads(body)
        messages.append(parse_queue_message(json.dumps(args[0])))
    return messages
