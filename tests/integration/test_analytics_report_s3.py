"""The report end to end: records read from S3 (moto over HTTP), findings from the real Redis,
files written locally and uploaded back to S3."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from moto.server import ThreadedMotoServer

from analytics.jobs import run_report
from analytics.sweeper import FindingsStore, SlaFinding
from analytics.testing import synthetic_records
from shared.flywheel.s3 import S3Store, build_s3_client
from shared.settings import LeadfleetSettings

pytestmark = pytest.mark.integration

DAY = date(2025, 11, 1)
BUCKET = "leadfleet-reports-test"


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"test-report-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def test_report_reads_s3_and_uploads_its_files(
    s3_endpoint: str, prefix: str, tmp_path: Path
) -> None:
    """Every decision stored in S3 is counted once, the open finding is included, and the five
    files land both locally and in the bucket under reports/."""
    settings = LeadfleetSettings(
        redis={"url": "redis://127.0.0.1:6379/0", "key_prefix": prefix},
        flywheel={
            "sink": "s3", "s3_bucket": BUCKET, "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "testing", "s3_secret_access_key": "testing", "s3_max_attempts": 1,
        },
        analytics={"reports_dir": tmp_path / "reports"},
    )  # fmt: skip
    s3 = build_s3_client(settings.flywheel)
    s3.create_bucket(Bucket=BUCKET)
    records = list(synthetic_records(1200, day=DAY, seed=21))
    store = S3Store(s3, BUCKET, settings.flywheel.s3_prefix)
    by_workload: dict[tuple[str, date], list[str]] = {}
    for record in records:
        day = date.fromisoformat(record["timestamp"][:10])
        by_workload.setdefault((record["workload_id"], day), []).append(json.dumps(record))
    for (workload, day), lines in by_workload.items():
        store.write(workload, day, lines)
        store.write(workload, day, lines[:10])  # a batch uploaded twice after a flusher died
    client = redis.Redis.from_url(settings.redis.url)
    now = datetime(2025, 11, 1, 23, 0, tzinfo=UTC)
    FindingsStore(client, prefix).replace(
        [SlaFinding(lead_id="00QWAIT000000001", owner="005Lf0000000001AAA", segment="Enterprise",
                    region="NA", created_at=now - timedelta(hours=3), sla_hours=1.0,
                    minutes_waiting=180.0, found_at=now)]
    )  # fmt: skip

    run = run_report(settings, start=DAY, end=DAY, now=now, redis=client)

    routed = sum(1 for r in records if r["workload_id"] == "lead.route")
    document = json.loads(run.files.json.read_text())
    assert document["headline"]["leads_routed"] == routed
    assert document["headline"]["unanswered_past_sla"] == 1
    assert sorted(run.s3_keys) == sorted(f"reports/{p.name}" for p in run.files.all())
    listed = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).list_objects_v2(Bucket=BUCKET, Prefix="reports/")  # fmt: skip
    assert sorted(o["Key"] for o in listed.get("Contents", [])) == sorted(run.s3_keys)
    uploaded: Any = s3.get_object(Bucket=BUCKET, Key="reports/dashboard_20251101.json")
    assert json.loads(uploaded["Body"].read())["headline"] == document["headline"]
    page = s3.get_object(Bucket=BUCKET, Key="reports/dashboard_20251101.html")
    assert page["ContentType"].startswith("text/html")
