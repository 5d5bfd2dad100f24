"""Polling finds new relevant records by watermark, sends each once, and skips its own writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis
import pytest

from listener.backoff import Backoff
from listener.decode import EventDecoder
from listener.metrics import ListenerMetrics
from listener.pipeline import Pipeline
from listener.poll import Poller, PollState, polled_entities
from listener.recovery import Recovery
from listener.testing import FakePubSub, FakeRecordReader
from shared.dead_letter import DeadLetterStream
from shared.messages import Queue
from shared.queue_producer import FakeProducer
from shared.salesforce.ids import to_18

NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
INTEGRATION_USER = to_18("005000000000001")
REP = to_18("005000000000002")


def _lead(n: int, created: datetime, author: str = REP) -> dict[str, object]:
    stamp = created.isoformat()
    return {"Id": to_18(f"00Q{n:012d}"), "LastName": f"L{n}", "Company": "Acme",
            "CreatedDate": stamp, "LastModifiedDate": stamp, "CreatedById": author}  # fmt: skip


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        (["/data/LeadChangeEvent", "/data/TaskChangeEvent"],
         {"Lead": "/data/LeadChangeEvent", "Task": "/data/TaskChangeEvent"}),
        (["/data/ChangeEvents"], {"Lead": "/data/ChangeEvents", "Task": "/data/ChangeEvents",
                                  "EmailMessage": "/data/ChangeEvents"}),
        (["/data/AccountChangeEvent"], {}),
    ],
    ids=["per-object", "all-objects-channel", "unhandled-object"],
)  # fmt: skip
def test_polled_entities_follow_the_topics(topics: list[str], expected: dict[str, str]) -> None:
    """Each topic names the object it covers; /data/ChangeEvents covers all three."""
    assert polled_entities(topics) == expected


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _poller(reader: FakeRecordReader, producer: FakeProducer, clock: Clock) -> Poller:
    redis = fakeredis.FakeRedis()
    metrics = ListenerMetrics()
    pipeline = Pipeline(
        decoder=EventDecoder(FakePubSub()), producer=producer,
        dead_letters=DeadLetterStream(redis, "t"), recovery=None, metrics=metrics,
        own_client="leadfleet", overflow_margin=timedelta(minutes=10),
    )  # fmt: skip
    return Poller(
        ["/data/LeadChangeEvent"], recovery=Recovery(reader), pipeline=pipeline,
        state=PollState(redis, "t", seen_ttl=timedelta(minutes=10)), metrics=metrics,
        interval=timedelta(seconds=1), overlap=timedelta(minutes=2), backoff=Backoff(0.01, 0.02),
        own_user=lambda: INTEGRATION_USER, clock=clock,
    )  # fmt: skip


def test_each_new_lead_is_sent_once_across_overlapping_polls() -> None:
    """The overlap re-reads recent leads; the seen-set keeps them from being sent again."""
    reader, producer, clock = FakeRecordReader(), FakeProducer(), Clock()
    poller = _poller(reader, producer, clock)
    reader.add("Lead", **_lead(1, NOW - timedelta(hours=1)))  # before polling began
    poller.poll_once()
    reader.add("Lead", **_lead(2, NOW + timedelta(seconds=5)))
    clock.now = NOW + timedelta(seconds=10)
    poller.poll_once()
    reader.add("Lead", **_lead(3, NOW + timedelta(seconds=8)))  # committed late, earlier stamp
    clock.now = NOW + timedelta(seconds=20)
    poller.poll_once()
    poller.poll_once()

    assert [m.record_id for m in producer.sent] == [
        to_18("00Q000000000002"),
        to_18("00Q000000000003"),
    ]
    assert {m.queue for m in producer.sent} == {Queue.LEAD_ROUTE}
    assert all(m.event_id.startswith("poll:Lead:") for m in producer.sent)


def test_leads_created_by_the_integration_user_are_own_writes() -> None:
    """Polling has no changeOrigin: the author tells leadfleet's writes apart."""
    reader, producer, clock = FakeRecordReader(), FakeProducer(), Clock()
    poller = _poller(reader, producer, clock)
    reader.add("Lead", **_lead(1, NOW, author=INTEGRATION_USER))
    reader.add("Lead", **_lead(2, NOW, author=REP))
    poller.poll_once()
    assert [m.record_id for m in producer.sent] == [to_18("00Q000000000002")]


def test_a_future_timestamp_does_not_carry_the_watermark_past_now() -> None:
    """A record stamped ahead of the poll must not hide records created after it."""
    reader, producer, clock = FakeRecordReader(), FakeProducer(), Clock()
    poller = _poller(reader, producer, clock)
    reader.add("Lead", **_lead(1, NOW + timedelta(hours=3)))
    poller.poll_once()
    reader.add("Lead", **_lead(2, NOW + timedelta(seconds=30)))
    clock.now = NOW + timedelta(minutes=1)
    poller.poll_once()
    assert to_18("00Q000000000002") in {m.record_id for m in producer.sent}
