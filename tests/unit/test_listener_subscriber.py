"""A topic subscriber turns Pub/Sub events into enqueued messages and never skips one.

Runs the real pipeline (decode, normalize, dispatch, recovery) against in-memory fakes of the
Pub/Sub API, the queue producer and Salesforce reads, with Redis faked by fakeredis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from listener.backoff import Backoff
from listener.decode import EventDecoder
from listener.metrics import ListenerMetrics
from listener.pipeline import Pipeline
from listener.recovery import Recovery
from listener.replay_store import ReplayStore
from listener.subscriber import FlowControl, SubscriberSettings, TopicSubscriber
from listener.testing import (
    FakePubSub,
    FakeRecordReader,
    auth_error,
    encode_change_event,
    replay_corrupted,
    schema_id_of,
    unavailable,
)
from shared.dead_letter import DeadLetterStream
from shared.messages import LeadCreatedMessage, Queue, ResponseActivityMessage
from shared.pubsub import pubsub_api_pb2 as pb2
from shared.queue_producer import FakeProducer
from shared.salesforce.ids import to_18

LEAD_TOPIC = "/data/LeadChangeEvent"
TASK_TOPIC = "/data/TaskChangeEvent"


def lead_id(n: int) -> str:
    return to_18(f"00Q{n:012d}")


def task_id(n: int) -> str:
    return to_18(f"00T{n:012d}")


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@dataclass
class Harness:
    pubsub: FakePubSub
    producer: FakeProducer
    store: ReplayStore
    dead_letters: DeadLetterStream
    reader: FakeRecordReader
    metrics: ListenerMetrics
    pipeline: Pipeline

    def subscriber(self, topic: str = LEAD_TOPIC, **settings: object) -> TopicSubscriber:
        options: dict[str, object] = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.02}
        options.update(settings)
        return TopicSubscriber(
            topic,
            pubsub=self.pubsub,
            pipeline=self.pipeline,
            checkpoints=self.store,
            metrics=self.metrics,
            settings=SubscriberSettings(**options),  # type: ignore[arg-type]
            backoff=Backoff(0.01, 0.02),
        )

    def publish_lead(self, n: int, *, origin: str = "com/salesforce/api/rest/62.0") -> bytes:
        payload = encode_change_event(
            "Lead",
            record_ids=[lead_id(n)],
            values={"LastName": f"Lead {n}", "Company": "Acme"},
            origin=origin,
        )
        return self.pubsub.publish(LEAD_TOPIC, payload, schema_id=schema_id_of("Lead"))

    def lead_ids_sent(self) -> list[str]:
        return [m.record_id for m in self.producer.sent if isinstance(m, LeadCreatedMessage)]


@pytest.fixture
def harness() -> Harness:
    redis = fakeredis.FakeRedis()
    pubsub = FakePubSub(keepalive_seconds=0.02)
    pubsub.add_topic(LEAD_TOPIC, "Lead")
    pubsub.add_topic(TASK_TOPIC, "Task")
    producer = FakeProducer()
    metrics = ListenerMetrics()
    dead_letters = DeadLetterStream(redis, "t")
    reader = FakeRecordReader()
    pipeline = Pipeline(
        decoder=EventDecoder(pubsub),
        producer=producer,
        dead_letters=dead_letters,
        recovery=Recovery(reader),
        metrics=metrics,
        own_client="leadfleet",
        overflow_margin=timedelta(minutes=10),
    )
    return Harness(
        pubsub, producer, ReplayStore(redis, "t"), dead_letters, reader, metrics, pipeline
    )


@pytest.fixture
def running(harness: Harness) -> Iterator[Callable[[TopicSubscriber], TopicSubscriber]]:
    started: list[tuple[TopicSubscriber, threading.Thread]] = []

    def start(subscriber: TopicSubscriber) -> TopicSubscriber:
        thread = threading.Thread(target=subscriber.run, daemon=True)
        thread.start()
        started.append((subscriber, thread))
        return subscriber

    yield start
    for subscriber, thread in started:
        subscriber.stop()
        thread.join(timeout=5)
        assert not thread.is_alive(), "a subscriber did not stop"


def test_each_created_lead_becomes_one_route_message_and_the_checkpoint_follows(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """Every Lead CREATE gives one lead.route message, and the last replay id is committed."""
    running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    replay_ids = [harness.publish_lead(n) for n in range(1, 251)]

    assert wait_for(lambda: len(harness.producer.sent) == 250)
    assert harness.lead_ids_sent() == [lead_id(n) for n in range(1, 251)]
    assert {m.queue for m in harness.producer.sent} == {Queue.LEAD_ROUTE}
    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == replay_ids[-1])


def test_own_echoes_give_no_message_and_are_counted(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """A lead written by leadfleet (client=leadfleet in changeOrigin) is dropped as an echo."""
    running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    harness.publish_lead(1, origin="com/salesforce/api/rest/62.0;client=leadfleet")
    last = harness.publish_lead(2)

    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == last)
    assert harness.lead_ids_sent() == [lead_id(2)]
    dropped = harness.metrics.changes_dropped.labels(LEAD_TOPIC, "CREATE", "own_echo")
    assert dropped._value.get() == 1


def test_a_restart_resumes_after_the_checkpoint_without_repeating_events(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """A second subscriber resumes with CUSTOM after the stored replay id."""
    first = running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    last = [harness.publish_lead(n) for n in range(1, 11)][-1]
    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == last)
    first.stop()
    for n in range(11, 21):
        harness.publish_lead(n)

    running(harness.subscriber())

    assert wait_for(lambda: len(harness.producer.sent) == 20)
    assert harness.lead_ids_sent() == [lead_id(n) for n in range(1, 21)]
    resumed = harness.pubsub.subscribes[-1]
    assert (resumed.replay_preset, resumed.replay_id) == (pb2.CUSTOM, last)


def test_flow_control_never_asks_for_more_than_the_batch(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """Requests top up to batch_size as events arrive; what is owed never exceeds it."""
    harness.pubsub.max_batch = 7
    for n in range(1, 101):
        harness.publish_lead(n)
    running(harness.subscriber(batch_size=20, initial_preset="EARLIEST"))

    assert wait_for(lambda: len(harness.producer.sent) == 100)
    requested = [r.num_requested for r in harness.pubsub.requests]
    assert requested[0] == 20
    assert sum(requested) - 100 <= 20
    assert len(requested) > 1


@pytest.mark.parametrize(
    ("batch_size", "arrivals", "expected"),
    [
        (100, [], [100]),
        (100, [40], [100, 40]),
        (10, [3, 3, 4], [10, 3, 3, 4]),
        (10, [0], [10, 0]),
    ],
    ids=["initial", "top-up-after-40", "small-batches", "keepalive-asks-nothing"],
)
def test_flow_control_tops_up_to_the_batch(
    batch_size: int, arrivals: list[int], expected: list[int]
) -> None:
    """num_requested keeps the owed count at batch_size."""
    flow = FlowControl(batch_size)
    asked = [flow.initial()] + [flow.received(n) for n in arrivals]
    assert asked == expected
    assert flow.owed == batch_size


def test_a_keepalive_is_committed_when_nothing_is_outstanding(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """An empty response's latest replay id becomes the checkpoint."""
    task_payload = encode_change_event("Task", record_ids=[task_id(1)], values={"Status": "Open"})
    newest = harness.pubsub.publish(TASK_TOPIC, task_payload, schema_id=schema_id_of("Task"))
    running(harness.subscriber())  # LATEST: the task event is behind the start

    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == newest)
    assert harness.producer.sent == []


def test_a_malformed_payload_is_dead_lettered_and_the_stream_moves_on(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """Bad Avro goes to the dead-letter stream with its raw bytes; later events still flow."""
    running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    bad = harness.pubsub.publish(LEAD_TOPIC, b"\xff\xfe not avro", schema_id=schema_id_of("Lead"))
    unknown = harness.pubsub.publish(LEAD_TOPIC, b"\x00", schema_id="no-such-schema")
    last = harness.publish_lead(1)

    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == last)
    assert harness.lead_ids_sent() == [lead_id(1)]
    letters = harness.dead_letters.list()
    assert [letter.original_payload()["replay_id"] for letter in letters] == [  # type: ignore[index]
        bad.hex(),
        unknown.hex(),
    ]
    first = letters[0].original_payload()
    assert isinstance(first, dict)
    assert first["payload_base64"] == "//4gbm90IGF2cm8="
    assert first["topic"] == LEAD_TOPIC
    assert "unknown schema id" in letters[1].reason


def test_a_failed_enqueue_is_retried_from_the_checkpoint(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """When Redis refuses a message the event comes again; nothing after it is skipped."""
    running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    first = harness.publish_lead(1)
    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == first)
    harness.producer.fail_next()
    last = [harness.publish_lead(n) for n in (2, 3)][-1]

    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == last)
    assert harness.lead_ids_sent() == [lead_id(1), lead_id(2), lead_id(3)]
    resumed = harness.pubsub.subscribes[-1]
    assert (resumed.replay_preset, resumed.replay_id) == (pb2.CUSTOM, first)


def test_an_auth_error_drops_the_token_and_reconnects(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """UNAUTHENTICATED / service.auth.error re-authenticates, then events flow."""
    harness.pubsub.fail_next_subscribe(auth_error())
    running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    harness.publish_lead(1)

    assert wait_for(lambda: harness.lead_ids_sent() == [lead_id(1)])
    assert harness.pubsub.reauthentications == 1
    assert harness.metrics.reconnects.labels(LEAD_TOPIC, "auth")._value.get() == 1


def test_a_dropped_stream_reconnects_from_the_checkpoint(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """An UNAVAILABLE stream is re-opened with CUSTOM after the last committed event."""
    harness.pubsub.fail_next_subscribe(unavailable())
    running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    first = harness.publish_lead(1)
    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == first)
    harness.pubsub.drop_streams()
    assert wait_for(lambda: len(harness.pubsub.subscribes) == 3)
    harness.publish_lead(2)

    assert wait_for(lambda: harness.lead_ids_sent() == [lead_id(1), lead_id(2)])
    assert harness.pubsub.subscribes[-1].replay_id == first


def test_a_corrupted_checkpoint_reconciles_the_gap_then_subscribes_latest(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """replayid.corrupted: leads created since the checkpoint are read back, then LATEST."""
    committed_at = datetime.now(UTC) - timedelta(hours=1)
    harness.store.commit(LEAD_TOPIC, b"\x00" * 9 + b"\x09", committed_at=committed_at)
    harness.reader.add(
        "Lead",
        Id=lead_id(7),
        LastName="Missed",
        Company="Acme",
        CreatedDate=(committed_at + timedelta(minutes=5)).isoformat(),
        LastModifiedDate=(committed_at + timedelta(minutes=5)).isoformat(),
    )
    harness.reader.add(
        "Lead",
        Id=lead_id(8),
        LastName="Older",
        Company="Acme",
        CreatedDate=(committed_at - timedelta(hours=2)).isoformat(),
    )
    harness.pubsub.fail_next_subscribe(replay_corrupted())
    running(harness.subscriber())

    assert wait_for(lambda: harness.lead_ids_sent() == [lead_id(7)])
    presets = [r.replay_preset for r in harness.pubsub.subscribes]
    assert presets == [pb2.CUSTOM, pb2.LATEST]
    message = harness.producer.sent[0]
    assert message.event_id.startswith("reconcile:Lead:")
    assert wait_for(lambda: harness.store.get(LEAD_TOPIC) == harness.pubsub.latest_replay_id)


def test_a_gap_event_rereads_its_records(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """GAP_CREATE of a completed task on a lead gives the first-touch message after a re-read."""
    harness.reader.add(
        "Task",
        Id=task_id(1),
        WhoId=lead_id(1),
        Status="Completed",
        Type="Call",
        CreatedDate="2026-01-05T10:00:00.000+0000",
        LastModifiedDate="2026-01-05T10:00:00.000+0000",
    )
    running(harness.subscriber(TASK_TOPIC))
    assert wait_for(lambda: harness.metrics.status(TASK_TOPIC).last_activity is not None)
    payload = encode_change_event("Task", record_ids=[task_id(1)], change_type="GAP_CREATE")
    harness.pubsub.publish(TASK_TOPIC, payload, schema_id=schema_id_of("Task"))

    assert wait_for(lambda: len(harness.producer.sent) == 1)
    message = harness.producer.sent[0]
    assert isinstance(message, ResponseActivityMessage)
    assert (message.record_id, message.lead_id, message.change_type) == (
        task_id(1),
        lead_id(1),
        "CREATE",
    )
    assert message.queue == Queue.FIRST_TOUCH_DETECT


def test_stop_finishes_and_commits(
    harness: Harness, running: Callable[[TopicSubscriber], TopicSubscriber]
) -> None:
    """stop() ends the run loop with the delivered events committed."""
    subscriber = running(harness.subscriber())
    assert wait_for(lambda: harness.metrics.status(LEAD_TOPIC).last_activity is not None)
    last = [harness.publish_lead(n) for n in range(1, 6)][-1]
    assert wait_for(lambda: len(harness.producer.sent) == 5)
    subscriber.stop()

    assert wait_for(lambda: not harness.metrics.status(LEAD_TOPIC).connected)
    assert harness.store.get(LEAD_TOPIC) == last
