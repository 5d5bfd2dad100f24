"""The dead-letter stream keeps undecodable and abandoned payloads for people to inspect and replay."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from shared.dead_letter import DeadLetterStream

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
SEEN = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
RAW_EVENT = b"\x00\x0aLead\xff\xfe not avro"


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def stream(redis_client: Redis) -> Iterator[DeadLetterStream]:
    """A stream under a prefix no other test uses, deleted afterwards."""
    prefix = f"test-deadletter-{uuid.uuid4().hex}"
    yield DeadLetterStream(redis_client, prefix, max_length=1000)
    redis_client.delete(f"{prefix}:deadletter")


def test_raw_event_bytes_are_kept_as_base64_and_come_back_exact(
    stream: DeadLetterStream, redis_client: Redis
) -> None:
    """A payload the listener could not decode is stored as base64 and read back unchanged."""
    entry_id = stream.add(
        "listener", "payload does not decode with schema 'x'", RAW_EVENT, first_seen=SEEN
    )

    entry = stream.get(entry_id)

    assert entry is not None
    assert entry.source == "listener"
    assert entry.payload_encoding == "base64"
    assert entry.original_payload() == RAW_EVENT
    assert entry.first_seen == entry.last_seen == SEEN
    [(_, fields)] = redis_client.xrange(stream.key)
    assert fields[b"payload"] == base64.b64encode(RAW_EVENT)


def test_worker_message_keeps_task_attempts_and_both_timestamps(stream: DeadLetterStream) -> None:
    """A worker's exhausted message records which task gave up, after how many tries, and when."""
    message = {"event_id": "/data/LeadChangeEvent:00:0", "record_id": "00Q5e00000AbCdEAAV"}
    entry_id = stream.add(
        "worker",
        "SalesforcePermanentError: INVALID_FIELD",
        message,
        task="lead.route",
        attempts=5,
        first_seen=SEEN,
        last_seen=SEEN + timedelta(minutes=7),
    )

    entry = stream.get(entry_id)

    assert entry is not None
    assert (entry.source, entry.task, entry.attempts) == ("worker", "lead.route", 5)
    assert entry.original_payload() == message
    assert entry.last_seen - entry.first_seen == timedelta(minutes=7)


def test_text_payload_and_long_reason(stream: DeadLetterStream) -> None:
    """Text stays text; a huge reason is cut so entries stay readable."""
    entry_id = stream.add("worker", "x" * 10_000, '{"not": "parsed"', first_seen=SEEN)
    entry = stream.get(entry_id)
    assert entry is not None
    assert entry.original_payload() == '{"not": "parsed"'
    assert len(entry.reason) < 2100


def test_list_is_oldest_first_and_limited(stream: DeadLetterStream) -> None:
    """Listing pages through entries in arrival order."""
    ids = [stream.add("listener", f"reason {n}", b"%d" % n, first_seen=SEEN) for n in range(5)]

    assert [e.id for e in stream.list(3)] == ids[:3]
    assert [e.id for e in stream.list(10, start=ids[3])] == ids[3:]
    assert stream.length() == 5


def test_delete_and_purge_remove_entries(stream: DeadLetterStream) -> None:
    """A replayed entry can be deleted; purge empties the stream and says how much it removed."""
    first = stream.add("listener", "a", b"1", first_seen=SEEN)
    stream.add("listener", "b", b"2", first_seen=SEEN)
    stream.add("listener", "c", b"3", first_seen=SEEN)

    assert stream.delete(first) is True
    assert stream.delete(first) is False
    assert stream.get(first) is None
    assert stream.purge() == 2
    assert stream.length() == 0


def test_stream_is_trimmed_to_about_its_max_length(redis_client: Redis) -> None:
    """A flood of bad payloads cannot grow the stream without bound."""
    prefix = f"test-deadletter-{uuid.uuid4().hex}"
    small = DeadLetterStream(redis_client, prefix, max_length=50)
    try:
        for n in range(1000):
            small.add("listener", "flood", b"%d" % n, first_seen=SEEN)
        assert 50 <= small.length() < 1000
    finally:
        redis_client.delete(f"{prefix}:deadletter")


def test_naive_timestamps_are_refused(stream: DeadLetterStream) -> None:
    """Times without a zone would be ambiguous to whoever inspects the entry."""
    with pytest.raises(ValueError, match="timezone-aware"):
        stream.add("listener", "x", b"", first_seen=datetime(2024, 5, 1, 9, 30))
    assert stream.length() == 0


@pytest.mark.parametrize(
    "bad_id", ["", "latest", "1-2-3", "$"], ids=["empty", "word", "three-parts", "dollar"]
)
def test_malformed_entry_id_is_refused_before_reaching_redis(
    stream: DeadLetterStream, bad_id: str
) -> None:
    """An id typed at the CLI that is not a stream id is a clear error, not a Redis error."""
    with pytest.raises(ValueError, match="not a dead-letter id"):
        stream.get(bad_id)
    with pytest.raises(ValueError, match="not a dead-letter id"):
        stream.delete(bad_id)
