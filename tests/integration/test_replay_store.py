"""Replay checkpoints persist in Redis per topic, so a restarted listener resumes where it was safe."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis import Redis

from listener.replay_store import CheckpointTracker, ReplayStore

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
LEAD_TOPIC = "/data/LeadChangeEvent"
TASK_TOPIC = "/data/TaskChangeEvent"


def rid(n: int) -> bytes:
    """A 10-byte replay id as Salesforce sends them (8-byte counter, then two zero bytes)."""
    return n.to_bytes(8, "big") + b"\x00\x00"


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Redis) -> Iterator[str]:
    """A key prefix no other test uses; its keys are removed afterwards."""
    name = f"test-replay-{uuid.uuid4().hex}"
    yield name
    for key in redis_client.scan_iter(match=f"{name}:*"):
        redis_client.delete(key)


def test_topic_without_checkpoint_has_none(redis_client: Redis, prefix: str) -> None:
    """A first start has nothing to resume from, so it subscribes from the tip."""
    assert ReplayStore(redis_client, prefix).get(LEAD_TOPIC) is None


def test_committed_replay_id_is_read_back_byte_for_byte(redis_client: Redis, prefix: str) -> None:
    """Binary replay ids (zero bytes included) come back exactly, also to a new store instance."""
    when = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    ReplayStore(redis_client, prefix).commit(LEAD_TOPIC, rid(1_104_717), committed_at=when)

    checkpoint = ReplayStore(redis_client, prefix).checkpoint(LEAD_TOPIC)

    assert checkpoint is not None
    assert checkpoint.replay_id == bytes([0, 0, 0, 0, 0, 16, 219, 77, 0, 0])
    assert checkpoint.committed_at == when
    assert redis_client.exists(f"{prefix}:replay:{LEAD_TOPIC}") == 1


def test_topics_keep_separate_checkpoints(redis_client: Redis, prefix: str) -> None:
    """Each topic resumes from its own position."""
    store = ReplayStore(redis_client, prefix)
    store.commit(LEAD_TOPIC, rid(10))
    store.commit(TASK_TOPIC, rid(20))
    store.commit(LEAD_TOPIC, rid(11))

    assert store.get(LEAD_TOPIC) == rid(11)
    assert store.get(TASK_TOPIC) == rid(20)


def test_cleared_checkpoint_is_gone(redis_client: Redis, prefix: str) -> None:
    """After a corrupted replay id the checkpoint is dropped, so the next start uses the tip."""
    store = ReplayStore(redis_client, prefix)
    store.commit(LEAD_TOPIC, rid(5))
    store.clear(LEAD_TOPIC)
    assert store.get(LEAD_TOPIC) is None


def test_restart_resumes_after_the_last_event_whose_predecessors_are_enqueued(
    redis_client: Redis, prefix: str
) -> None:
    """A crash with event 3 not enqueued resumes after event 2, even though 4 and 5 were done."""
    store = ReplayStore(redis_client, prefix)
    tracker = CheckpointTracker(start=store.get(LEAD_TOPIC))
    for n in range(1, 6):
        tracker.received(rid(n))
    for n in (2, 1, 5, 4):
        tracker.enqueued(rid(n))
        checkpoint = tracker.take()
        if checkpoint is not None:
            store.commit(LEAD_TOPIC, checkpoint)

    resumed = ReplayStore(redis_client, prefix).get(LEAD_TOPIC)

    assert resumed == rid(2)
