"""The S3 store and the flusher against a real S3 API (moto's server over HTTP) and a real Redis.

The same store assertions run against the S3 store and the local folder, so both keep one
contract. The module also provides `running_moto` and `s3_settings` to the other flywheel
integration tests.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from moto.server import ThreadedMotoServer

from shared.flywheel.buffer import FLUSH_GROUP, RedisStreamSink
from shared.flywheel.flusher import StreamFlusher
from shared.flywheel.local import LocalStore
from shared.flywheel.reader import ReadReport, read_record_dicts
from shared.flywheel.record import to_record
from shared.flywheel.s3 import S3Store, build_s3_client
from shared.flywheel.store import RecordStore, StoreRefusedError, StoreUnavailableError
from shared.settings import FlywheelSettings
from tests.integration.redis_databases import claimed_redis_url
from tests.unit.test_flywheel_buffer import raw_record

pytestmark = pytest.mark.integration

REDIS_HOST = "127.0.0.1"
BUCKET = "leadfleet-flywheel-test"
KEY = re.compile(r"^flywheel/lead\.route/dt=2026-03-02/part-\d{8}T\d{12}Z-[0-9a-f]{32}\.jsonl\.gz$")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_moto() -> Iterator[str]:
    """moto's S3 server on a free local port; yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_settings(endpoint: str, bucket: str = BUCKET, **overrides: Any) -> FlywheelSettings:
    """Flywheel settings for the S3 sink on moto (any key pair is accepted)."""
    values: dict[str, Any] = {
        "sink": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_access_key_id": "testing",
        "s3_secret_access_key": "testing",
        "s3_timeout_seconds": 5,
        "s3_max_attempts": 1,
    }
    values.update(overrides)
    return FlywheelSettings(**values)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with running_moto() as endpoint:
        client = build_s3_client(s3_settings(endpoint))
        client.create_bucket(Bucket=BUCKET)
        yield endpoint


@pytest.fixture
def s3_store(moto_endpoint: str) -> S3Store:
    """An S3 store under a fresh prefix of the test bucket."""
    return S3Store(build_s3_client(s3_settings(moto_endpoint)), BUCKET, "flywheel")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with claimed_redis_url() as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, removed afterwards."""
    name = f"lf-fw-{uuid.uuid4().hex[:8]}"
    yield name
    for key in redis_client.scan_iter(f"{name}:*"):
        redis_client.delete(key)


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str) -> RecordStore:
    """The S3 store on a fresh prefix and the local folder: one contract for both."""
    if request.param == "local":
        return LocalStore(tmp_path / "flywheel")
    prefix = f"contract-{uuid.uuid4().hex[:8]}"
    return S3Store(build_s3_client(s3_settings(moto_endpoint)), BUCKET, prefix)


def lines(first: int, count: int, **overrides: Any) -> list[str]:
    return [to_record(raw_record(i, **overrides)).to_json_line() for i in range(first, count)]


def test_store_contract_write_then_read_by_workload_and_day(store: RecordStore) -> None:
    """What is written is read back, per workload, within the day range asked."""
    store.write("lead.route", date(2026, 3, 2), lines(0, 3))
    store.write("lead.route", date(2026, 3, 2), lines(3, 5))
    store.write("lead.route", date(2026, 3, 4), lines(5, 6, timestamp="2026-03-04T01:00:00Z"))
    store.write("lead.first_touch_detect", date(2026, 3, 2), lines(6, 7))

    on_the_2nd = store.locations("lead.route", date(2026, 3, 2), date(2026, 3, 2))
    read = [line for location in on_the_2nd for line in store.read_lines(location)]

    assert sorted(read) == sorted(lines(0, 5))
    assert len(store.locations("lead.route", date(2026, 3, 3))) == 1
    assert len(store.locations("lead.route")) == len(on_the_2nd) + 1
    assert store.locations("outreach.template_suggest") == []


def test_objects_are_gzip_jsonl_under_the_documented_key(s3_store: S3Store) -> None:
    """<prefix>/<workload>/dt=YYYY-MM-DD/part-<utc time>-<uuid>.jsonl.gz, gzip JSON lines."""
    key = s3_store.write("lead.route", date(2026, 3, 2), lines(0, 4))

    assert KEY.match(key), key
    body = s3_store.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    decoded = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    assert [d["metadata"]["lead_id"] for d in decoded] == [f"00Q{i:015d}" for i in range(4)]


def test_the_flusher_uploads_and_acknowledges_only_after_s3_has_the_object(
    s3_store: S3Store, redis_client: redis.Redis, prefix: str
) -> None:
    """Through a real Redis stream into moto: every record in S3 once, nothing left pending."""
    sink = RedisStreamSink(redis_client, prefix, client_id="acme", max_length=100_000)
    for i in range(130):
        sink.append(raw_record(i))
    s3_store.prefix = f"flush-{prefix}"

    report = StreamFlusher(redis_client, prefix, s3_store, batch_size=50).flush()

    assert report.records == 130 and len(report.locations) == 3
    records = read_record_dicts(s3_store)
    assert sorted(r["metadata"]["lead_id"] for r in records) == [f"00Q{i:015d}" for i in range(130)]
    stream = f"{prefix}:flywheel"
    assert redis_client.xlen(stream) == 0
    assert redis_client.xpending(stream, FLUSH_GROUP)["pending"] == 0


@pytest.mark.parametrize(
    ("endpoint", "bucket", "error"),
    [
        ("moto", "no-such-bucket", StoreRefusedError),
        ("closed-port", BUCKET, StoreUnavailableError),
    ],
    ids=["missing-bucket-is-permanent", "unreachable-endpoint-is-retryable"],
)
def test_a_failed_upload_leaves_every_record_in_the_stream(
    moto_endpoint: str,
    redis_client: redis.Redis,
    prefix: str,
    endpoint: str,
    bucket: str,
    error: type[Exception],
) -> None:
    """An upload S3 did not take acknowledges nothing; the error says whether to retry."""
    url = moto_endpoint if endpoint == "moto" else f"http://127.0.0.1:{free_port()}"
    settings = s3_settings(url, bucket=bucket, s3_timeout_seconds=1)
    store = S3Store(build_s3_client(settings), bucket, "flywheel")
    sink = RedisStreamSink(redis_client, prefix, client_id="acme", max_length=100_000)
    for i in range(5):
        sink.append(raw_record(i))

    with pytest.raises(error):
        StreamFlusher(redis_client, prefix, store).flush()

    stream = f"{prefix}:flywheel"
    assert redis_client.xlen(stream) == 5
    assert redis_client.xpending(stream, FLUSH_GROUP)["pending"] == 5


def test_copies_uploaded_twice_are_read_once(s3_store: S3Store) -> None:
    """A batch re-uploaded after a lost acknowledgement is deduplicated by record_id."""
    s3_store.prefix = f"twice-{uuid.uuid4().hex[:8]}"
    batch = lines(0, 10)
    s3_store.write("lead.route", date(2026, 3, 2), batch)
    s3_store.write("lead.route", date(2026, 3, 2), batch)
    report = ReadReport()

    records = read_record_dicts(s3_store, report=report)

    assert len(records) == 10
    assert report.lines["lead.route"] == 20


def test_object_keys_carry_the_flush_time_in_utc(s3_store: S3Store) -> None:
    """The part name sorts by when it was flushed."""
    s3_store.prefix = f"time-{uuid.uuid4().hex[:8]}"
    before = datetime.now(UTC).strftime("%Y%m%dT%H%M")
    key = s3_store.write("lead.route", date(2026, 3, 2), lines(0, 1))
    stamp = key.split("/part-")[1][:13]
    assert stamp >= before
