"""`leadfleet doctor` against simulated orgs over HTTPS and gRPC, real Redis and an S3 server:
it passes on a fully set-up org and names what is wrong in orgs that are not."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner, Result

from cli.main import app
from shared.flywheel.s3 import build_s3_client
from simulator.testing import SimulatorHandle, running_simulator
from tests.integration.test_flywheel_s3 import running_moto, s3_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REDIS_URL = "redis://127.0.0.1:6379/0"
BUCKET = "leadfleet-doctor-test"
# Keepalives arrive at once, so each stream check takes a fraction of a second.
KEEPALIVE_SECONDS = 0.2


@pytest.fixture(scope="module")
def default_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """A fully set-up org."""
    with running_simulator(
        tmp_path_factory.mktemp("doctor-org"), pubsub_keepalive_seconds=KEEPALIVE_SECONDS
    ) as sim:
        yield sim


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 server holding the flywheel bucket."""
    with running_moto() as endpoint:
        build_s3_client(s3_settings(endpoint, BUCKET)).create_bucket(Bucket=BUCKET)
        yield endpoint


@pytest.fixture
def key_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; the test checks the doctor left nothing under it."""
    prefix = f"doctor-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def org_env(sim: SimulatorHandle, key_prefix: str, **extra: str) -> dict[str, str]:
    """The settings that point leadfleet at a simulated org."""
    host, _, port = sim.pubsub_target.rpartition(":")
    return {
        "LEADFLEET_SALESFORCE__LOGIN_URL": sim.login_url,
        "LEADFLEET_SALESFORCE__CONSUMER_KEY": sim.consumer_key,
        "LEADFLEET_SALESFORCE__USERNAME": sim.username,
        "LEADFLEET_SALESFORCE__PRIVATE_KEY_PATH": str(sim.private_key_path),
        "LEADFLEET_SALESFORCE__CA_BUNDLE": str(sim.ca_bundle),
        "LEADFLEET_LISTENER__PUBSUB_HOST": host,
        "LEADFLEET_LISTENER__PUBSUB_PORT": port,
        "LEADFLEET_REDIS__URL": REDIS_URL,
        "LEADFLEET_REDIS__KEY_PREFIX": key_prefix,
        "LEADFLEET_FLYWHEEL__SINK": "local",
        **extra,
    }


def run_doctor(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Result, dict[str, dict[str, Any]]]:
    """Run `leadfleet doctor --json` with exactly these settings; the results by check."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("LEADFLEET_")]:
        monkeypatch.delenv(name)
    result = CliRunner().invoke(app, ["doctor", "--json", "--subscribe-seconds", "1"], env=env)
    checks = {}
    for line in result.output.splitlines():
        entry = json.loads(line)
        checks[entry["check"]] = entry
    return result, checks


def statuses(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Check name to status."""
    return {name: entry["status"] for name, entry in checks.items()}


def test_doctor_passes_against_a_set_up_org(
    default_org: SimulatorHandle,
    s3_endpoint: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every check passes on the simulator's default org with an S3 bucket; exit 0, no litter."""
    env = org_env(
        default_org,
        key_prefix,
        LEADFLEET_FLYWHEEL__SINK="s3",
        LEADFLEET_FLYWHEEL__S3_BUCKET=BUCKET,
        LEADFLEET_FLYWHEEL__S3_ENDPOINT_URL=s3_endpoint,
        LEADFLEET_FLYWHEEL__S3_ACCESS_KEY_ID="testing",
        LEADFLEET_FLYWHEEL__S3_SECRET_ACCESS_KEY="testing",
    )
    result, checks = run_doctor(env, monkeypatch, tmp_path)
    assert result.exit_code == 0, result.output
    assert set(statuses(checks).values()) == {"pass"}
    assert list(checks) == [
        "settings",
        "config.files",
        "redis",
        "salesforce.private_key",
        "salesforce.jwt",
        "salesforce.api_version",
        "salesforce.fields",
        "salesforce.access",
        "salesforce.cdc",
        "pubsub.stream",
        "salesforce.limits",
        "config.owners",
        "s3",
    ]
    assert "/data/TaskChangeEvent (a keepalive)" in checks["pubsub.stream"]["detail"]
    leftovers = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{key_prefix}:*"))
    assert leftovers == []


def test_doctor_names_the_missing_field(
    tmp_path: Path, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An org without Routing_Reason__c fails the fields check, naming the field and the fix."""
    with running_simulator(
        tmp_path / "org",
        pubsub_keepalive_seconds=KEEPALIVE_SECONDS,
        missing_fields=("Lead.Routing_Reason__c",),
    ) as sim:
        result, checks = run_doctor(org_env(sim, key_prefix), monkeypatch, tmp_path)
    assert result.exit_code == 1
    fields = checks["salesforce.fields"]
    assert fields["status"] == "fail"
    assert fields["detail"] == "missing on Lead: Routing_Reason__c (Text(255))"
    assert "sf project deploy start" in fields["fix"]
    failing = [name for name, status in statuses(checks).items() if status == "fail"]
    assert failing == ["salesforce.fields"]


def test_doctor_names_the_object_with_change_events_off(
    tmp_path: Path, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An org with CDC off for Task fails the CDC check naming Task, and only Task."""
    with running_simulator(
        tmp_path / "org", pubsub_keepalive_seconds=KEEPALIVE_SECONDS, cdc_disabled=("Task",)
    ) as sim:
        result, checks = run_doctor(org_env(sim, key_prefix), monkeypatch, tmp_path)
    assert result.exit_code == 1
    cdc = checks["salesforce.cdc"]
    assert cdc["status"] == "fail"
    assert cdc["detail"] == "Change Data Capture is off for Task"
    assert "Setup > Change Data Capture" in cdc["fix"]
    failing = [name for name, status in statuses(checks).items() if status == "fail"]
    assert failing == ["salesforce.cdc"]


def test_doctor_explains_a_refused_jwt(
    default_org: SimulatorHandle, key_prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A consumer key the org does not know fails the JWT check; org checks are skipped."""
    env = org_env(default_org, key_prefix, LEADFLEET_SALESFORCE__CONSUMER_KEY="3MVG9-not-the-app")
    result, checks = run_doctor(env, monkeypatch, tmp_path)
    assert result.exit_code == 1
    assert checks["salesforce.jwt"]["status"] == "fail"
    assert "invalid_client" in checks["salesforce.jwt"]["detail"]
    assert "CONSUMER_KEY" in checks["salesforce.jwt"]["fix"]
    assert "3MVG9-not-the-app" not in result.output
    assert checks["salesforce.fields"]["status"] == "skip"
    assert checks["salesforce.fields"]["detail"] == "needs salesforce.jwt to pass first"


def test_doctor_reports_an_unknown_topic_and_a_missing_bucket(
    default_org: SimulatorHandle,
    s3_endpoint: str,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A topic the org does not have and a bucket that does not exist are both named."""
    env = org_env(
        default_org,
        key_prefix,
        LEADFLEET_LISTENER__TOPICS="/data/LeadChangeEvent,/data/OpportunityChangeEvent",
        LEADFLEET_FLYWHEEL__SINK="s3",
        LEADFLEET_FLYWHEEL__S3_BUCKET="no-such-bucket",
        LEADFLEET_FLYWHEEL__S3_ENDPOINT_URL=s3_endpoint,
        LEADFLEET_FLYWHEEL__S3_ACCESS_KEY_ID="testing",
        LEADFLEET_FLYWHEEL__S3_SECRET_ACCESS_KEY="testing",
        LEADFLEET_FLYWHEEL__S3_MAX_ATTEMPTS="1",
    )
    result, checks = run_doctor(env, monkeypatch, tmp_path)
    assert result.exit_code == 1
    stream = checks["pubsub.stream"]
    assert stream["status"] == "fail"
    assert stream["detail"].startswith("/data/OpportunityChangeEvent: GetTopic")
    assert "/data/LeadChangeEvent" not in stream["detail"]
    assert checks["s3"]["status"] == "fail"
    assert "NoSuchBucket" in checks["s3"]["detail"]


def test_doctor_names_a_bad_setting(
    key_prefix: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A setting that does not validate fails the first check by name; nothing else runs."""
    result, checks = run_doctor(
        {"LEADFLEET_SALESFORCE__TIMEOUT_SECONDS": "soon"}, monkeypatch, tmp_path
    )
    assert result.exit_code == 1
    assert checks["settings"]["status"] == "fail"
    assert "LEADFLEET_SALESFORCE__TIMEOUT_SECONDS" in checks["settings"]["detail"]
    assert {s for name, s in statuses(checks).items() if name != "settings"} == {"skip"}
