"""A flusher SIGKILLed in the middle of an upload loses no record, and its copies are read once.

The flusher runs as `leadfleet flywheel flush` in a subprocess whose S3 client pauses on its
second PutObject (a botocore event hook, the only change to the process): either before the
request is sent (the upload never completes) or after S3 answered (stored, not acknowledged).
The test kills it there, restarts the flusher, and reads everything back from moto's S3.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.flywheel.buffer import FLUSH_GROUP, RedisStreamSink
from shared.flywheel.reader import ReadReport, read_record_dicts
from shared.flywheel.s3 import S3Store, build_s3_client
from tests.integration.test_flywheel_s3 import claimed_redis_url, running_moto, s3_settings
from tests.unit.test_flywheel_buffer import raw_record

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LEADFLEET = Path(sys.executable).with_name("leadfleet")
RECORDS = 300
BATCH = 50
PAUSING_FLUSHER = """
import pathlib, sys, time
import shared.flywheel.s3 as s3

marker, event = pathlib.Path(sys.argv[1]), sys.argv[2]
build = s3.build_s3_client
uploads = []

def pausing_client(settings):
    client = build(settings)

    def pause(**_):
        uploads.append(1)
        if len(uploads) == 2:
            marker.write_text("upload in flight")
            time.sleep(600)

    client.meta.events.register(event, pause)
    return client

s3.build_s3_client = pausing_client
from cli.main import app
app(["flywheel", "flush"])
"""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto() as url:
        yield url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with claimed_redis_url() as url:
        yield url


def flusher_env(endpoint: str, bucket: str, prefix: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    env.update(
        {
            "LEADFLEET_REDIS__URL": redis_url,
            "LEADFLEET_REDIS__KEY_PREFIX": prefix,
            "LEADFLEET_FLYWHEEL__SINK": "s3",
            "LEADFLEET_FLYWHEEL__S3_BUCKET": bucket,
            "LEADFLEET_FLYWHEEL__S3_ENDPOINT_URL": endpoint,
            "LEADFLEET_FLYWHEEL__S3_ACCESS_KEY_ID": "testing",
            "LEADFLEET_FLYWHEEL__S3_SECRET_ACCESS_KEY": "testing",
            "LEADFLEET_FLYWHEEL__FLUSH_BATCH_SIZE": str(BATCH),
            # The restarted flusher takes over the dead one's entries at once.
            "LEADFLEET_FLYWHEEL__CLAIM_IDLE_MS": "1",
        }
    )
    return env


@pytest.mark.parametrize(
    ("hook", "copies"),
    [("before-send.s3.PutObject", False), ("after-call.s3.PutObject", True)],
    ids=["killed-before-s3-has-the-object", "killed-after-upload-before-ack"],
)
def test_a_flusher_killed_mid_upload_and_restarted_loses_no_record(
    endpoint: str, redis_url: str, tmp_path: Path, hook: str, copies: bool
) -> None:
    """Every appended record is in S3 after the restart, exactly once after dedup."""
    bucket = f"kill-{uuid.uuid4().hex[:12]}"
    prefix = f"lf-kill-{uuid.uuid4().hex[:8]}"
    client = build_s3_client(s3_settings(endpoint, bucket=bucket))
    client.create_bucket(Bucket=bucket)
    r = redis.Redis.from_url(redis_url)
    stream = f"{prefix}:flywheel"
    try:
        sink = RedisStreamSink(r, prefix, client_id="acme", max_length=100_000)
        for i in range(RECORDS):
            sink.append(raw_record(i))
        env = flusher_env(endpoint, bucket, prefix, redis_url)
        marker = tmp_path / "in-flight"
        with (tmp_path / "flusher.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", PAUSING_FLUSHER, str(marker), hook],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, (tmp_path / "flusher.log").read_text()
            assert time.monotonic() < deadline, "the flusher never reached its second upload"
            time.sleep(0.05)

        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

        # One batch acknowledged, one in flight and pending, the rest never read.
        assert r.xpending(stream, FLUSH_GROUP)["pending"] == BATCH
        assert r.xlen(stream) == RECORDS - BATCH
        restarted = subprocess.run(
            [str(LEADFLEET), "flywheel", "flush"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert restarted.returncode == 0, restarted.stderr

        store = S3Store(client, bucket, "flywheel")
        report = ReadReport()
        records = read_record_dicts(store, report=report)
        assert sorted(rec["metadata"]["lead_id"] for rec in records) == [
            f"00Q{i:015d}" for i in range(RECORDS)
        ]
        assert report.duplicates.get("lead.route", 0) == (BATCH if copies else 0)
        assert r.xlen(stream) == 0
        assert r.xpending(stream, FLUSH_GROUP)["pending"] == 0
    finally:
        for key in r.scan_iter(f"{prefix}:*"):
            r.delete(key)
        r.close()
