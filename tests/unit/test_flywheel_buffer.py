"""The Redis stream appender and the flusher, on an in-memory Redis and a local folder.

The rule under test: a record leaves the stream only after the store has it, so a flusher that
dies or a store that fails loses nothing; copies written twice are dropped by the reader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from shared.flywheel.buffer import FLUSH_GROUP, RedisStreamSink
from shared.flywheel.feedback import RoutedLeads
from shared.flywheel.flusher import StreamFlusher
from shared.flywheel.local import LocalStore
from shared.flywheel.reader import ReadReport, read_record_dicts, read_records
from shared.flywheel.store import StoreUnavailableError
from shared.settings import FlywheelSettings, LeadfleetSettings
from tests.unit.workers_fakes import fake_redis
from workers.deps import build_flywheel

PREFIX = "lf-fw"


def raw_record(index: int, workload: str = "lead.route", **overrides: Any) -> dict[str, Any]:
    """A workload dict like the ones workers pass to their sink."""
    record: dict[str, Any] = {
        "timestamp": f"2026-03-02T09:{index // 60 % 60:02d}:{index % 60:02d}+00:00",
        "client_id": "acme",
        "workload_id": workload,
        "lead_id": f"00Q{index:015d}",
        "event_id": f"/data/LeadChangeEvent:{index:04x}:0",
        "attempt": 1,
        "outcome": "routed",
        "owner": "005000000000001AAA",
        "source": "rules",
        "policy_version": "v1",
        "latency_ms": 3.0,
        "decision": {"segment": "SMB", "region": "NA", "owner": "005000000000001AAA"},
        "llm_exchange": None,
        "lead": {"FirstName": "Ada", "LastName": "Lovelace", "Company": f"Co {index}"},
    }
    record.update(overrides)
    return record


class Requests:
    """Counts flush requests, as the Celery send would."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def sink(r: redis.Redis, **options: Any) -> RedisStreamSink:
    defaults: dict[str, Any] = {"client_id": "acme", "max_length": 100_000}
    return RedisStreamSink(r, PREFIX, **{**defaults, **options})


def flusher(r: redis.Redis, store: Any, **options: Any) -> StreamFlusher:
    defaults: dict[str, Any] = {"batch_size": 7, "claim_idle_ms": 60_000}
    return StreamFlusher(r, PREFIX, store, **{**defaults, **options})


class FailingStore:
    """A store that is down: every write fails."""

    def __init__(self) -> None:
        self.attempts = 0

    def write(self, workload_id: str, day: date, lines: Sequence[str]) -> str:
        self.attempts += 1
        raise StoreUnavailableError("S3 PutObject: SlowDown (HTTP 503)", status=503)


def test_append_then_flush_writes_each_record_once_per_workload_and_day(tmp_path: Path) -> None:
    """Records land in <workload>_<day>.jsonl and the stream is empty afterwards."""
    r = fake_redis()
    appender = sink(r)
    for i in range(20):
        appender.append(raw_record(i))
    for i in range(5):
        appender.append(raw_record(100 + i, "lead.first_touch_detect", outcome="written"))
    appender.append(raw_record(200, timestamp="2026-03-03T00:00:01+00:00"))
    store = LocalStore(tmp_path)

    report = flusher(r, store).flush()

    assert report.records == 26
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lead.first_touch_detect_2026-03-02.jsonl",
        "lead.route_2026-03-02.jsonl",
        "lead.route_2026-03-03.jsonl",
    ]
    routed = read_records(store, since=date(2026, 3, 2), until=date(2026, 3, 2))
    assert len(routed) == 25
    assert r.xlen(f"{PREFIX}:flywheel") == 0
    assert r.xpending(f"{PREFIX}:flywheel", FLUSH_GROUP)["pending"] == 0


def test_a_failed_store_keeps_records_pending_and_a_later_flush_writes_them(
    tmp_path: Path,
) -> None:
    """A store outage loses nothing: the records wait in the stream and are reclaimed."""
    r = fake_redis()
    appender = sink(r)
    for i in range(10):
        appender.append(raw_record(i))
    down = FailingStore()

    with pytest.raises(StoreUnavailableError):
        flusher(r, down).flush()

    assert down.attempts == 1
    assert r.xpending(f"{PREFIX}:flywheel", FLUSH_GROUP)["pending"] == 7
    store = LocalStore(tmp_path)
    report = flusher(r, store, claim_idle_ms=0).flush()
    assert (report.reclaimed, report.records) == (7, 10)
    assert len(read_records(store)) == 10
    assert r.xlen(f"{PREFIX}:flywheel") == 0


def test_entries_a_flusher_is_still_working_on_are_not_taken_before_their_idle_time(
    tmp_path: Path,
) -> None:
    """Reclaiming waits for claim_idle_ms, so a slow but live flusher is not doubled."""
    r = fake_redis()
    appender = sink(r)
    for i in range(3):
        appender.append(raw_record(i))
    stream = f"{PREFIX}:flywheel"
    r.xgroup_create(stream, FLUSH_GROUP, id="0", mkstream=True)
    r.xreadgroup(FLUSH_GROUP, "busy-flusher", {stream: ">"}, count=10)

    report = flusher(r, LocalStore(tmp_path), claim_idle_ms=3_600_000).flush()

    assert (report.records, report.reclaimed) == (0, 0)
    assert r.xpending(stream, FLUSH_GROUP)["pending"] == 3


def test_a_flusher_that_died_after_writing_leaves_copies_the_reader_drops(
    tmp_path: Path,
) -> None:
    """Written but not acknowledged: written again by the next flush, read back once."""
    r = fake_redis()
    appender = sink(r)
    for i in range(12):
        appender.append(raw_record(i))
    stream = f"{PREFIX}:flywheel"
    store = LocalStore(tmp_path)
    r.xgroup_create(stream, FLUSH_GROUP, id="0", mkstream=True)
    # The dead flusher read 12 entries and wrote them, then died before XACK.
    entries = r.xreadgroup(FLUSH_GROUP, "dead-flusher", {stream: ">"}, count=100)[0][1]
    store.write("lead.route", date(2026, 3, 2), [f[b"record"].decode() for _, f in entries])

    report = flusher(r, store, claim_idle_ms=0).flush()

    assert report.reclaimed == 12
    read = ReadReport()
    records = read_record_dicts(store, report=read)
    assert len(records) == 12
    assert read.lines["lead.route"] == 24
    assert read.duplicates["lead.route"] == 12


def test_a_torn_last_line_costs_only_that_line(tmp_path: Path) -> None:
    """A local append cut short is isolated: the next append starts on a new line."""
    store = LocalStore(tmp_path)
    r = fake_redis()
    appender = sink(r)
    appender.append(raw_record(1))
    flusher(r, store).flush()
    path = store.path("lead.route", date(2026, 3, 2))
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"timestamp": "2026-03-02T09:')
    appender.append(raw_record(2))
    flusher(r, store).flush()

    read = ReadReport()
    records = read_record_dicts(store, report=read)

    assert [rec["metadata"]["lead_id"] for rec in records] == [
        "00Q000000000000001",
        "00Q000000000000002",
    ]
    assert read.unreadable == 1


def test_redaction_is_applied_before_the_record_reaches_redis() -> None:
    """With redact_pii on, the stream never holds the lead's name."""
    r = fake_redis()
    sink(r, redact_pii=True).append(
        raw_record(1, lead={"FirstName": "Ada", "LastName": "Lovelace", "Description": "Ada"})
    )
    [(_, fields)] = r.xrange(f"{PREFIX}:flywheel")
    assert b"Ada" not in fields[b"record"]


def test_an_invalid_record_is_dropped_without_failing_the_workload() -> None:
    """A decision already applied is not retried over its record; the drop is counted."""
    r = fake_redis()
    appender = sink(r)
    appender.append(raw_record(1, timestamp=None))
    assert appender.dropped == 1
    assert r.xlen(f"{PREFIX}:flywheel") == 0


def test_redis_down_drops_the_record_without_failing_the_workload() -> None:
    """An append that cannot reach Redis is logged and counted, not raised."""
    server = fakeredis.FakeServer()
    server.connected = False
    appender = sink(fakeredis.FakeRedis(server=server))
    appender.append(raw_record(1))
    assert appender.dropped == 1


def test_a_long_stream_asks_for_one_flush_per_interval() -> None:
    """Past the size, the first append asks for a flush; the next ones within the interval do not."""
    r = fake_redis()
    requests = Requests()
    appender = sink(
        r, flush_when_exceeds=5, flush_request_interval_seconds=3600, request_flush=requests
    )
    for i in range(5):
        appender.append(raw_record(i))
    assert requests.count == 0
    for i in range(5, 20):
        appender.append(raw_record(i))
    assert requests.count == 1


def test_a_routed_lead_is_remembered_for_feedback() -> None:
    """Routing records leave the owner, time and record id where feedback finds them."""
    r = fake_redis()
    appender = sink(r)
    appender.append(raw_record(7))
    appender.append(raw_record(8, outcome="duplicate"))

    memory = RoutedLeads(r, PREFIX, ttl_seconds=60)
    routed = memory.recall("00Q000000000000007")
    assert routed is not None
    assert routed.owner == "005000000000001AAA"
    assert routed.routed_at is not None and routed.routed_at.isoformat().startswith("2026-03-02")
    [(_, fields)] = r.xrange(f"{PREFIX}:flywheel", count=1)
    assert routed.record_id == json.loads(fields[b"record"])["metadata"]["record_id"]
    assert memory.recall("00Q000000000000008") is None


def test_stream_length_is_bounded() -> None:
    """XADD MAXLEN ~ keeps memory bounded if flushing stops for long."""
    r = fake_redis()
    appender = sink(r, max_length=10)
    for i in range(300):
        appender.append(raw_record(i))
    assert r.xlen(f"{PREFIX}:flywheel") < 300


@pytest.mark.parametrize(
    ("sink_name", "appends"),
    [("local", True), ("s3", True), ("off", False)],
    ids=["local", "s3", "off"],
)
def test_workers_build_the_stream_appender_unless_the_flywheel_is_off(
    sink_name: str, appends: bool
) -> None:
    """Both stores are fed through the stream; off records nothing."""
    settings = LeadfleetSettings(flywheel=FlywheelSettings(sink=sink_name))  # type: ignore[arg-type]
    r = fake_redis()
    build_flywheel(settings, r).append(raw_record(1))
    assert (r.xlen(f"{settings.redis.key_prefix}:flywheel") == 1) is appends
