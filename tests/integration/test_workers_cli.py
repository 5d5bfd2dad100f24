"""`leadfleet template --lead-id` and `leadfleet dlq` against the simulator and the real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from typer.testing import CliRunner

from cli.main import app
from shared.dead_letter import DeadLetterStream
from shared.queue_producer import peek_queue
from shared.settings import get_settings
from simulator.testing import SimulatorHandle
from tests.integration.conftest import salesforce_for
from tests.integration.workers_support import REDIS_URL, base_env, create_records

pytestmark = pytest.mark.integration

PREFIX = "lf-cli"


@pytest.fixture
def cli_env(sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """The CLI's settings from the environment, pointing at the simulator and the test Redis."""
    for key, value in base_env(sim, PREFIX).items():
        if key.startswith("LEADFLEET_"):
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    get_settings.cache_clear()
    client.close()


def test_template_lead_id_suggests_and_sends_once(
    cli_env: redis.Redis, sim: SimulatorHandle
) -> None:
    """By hand: the suggestion is written, the email goes out once, a second run is blocked."""
    sf = salesforce_for(sim)
    [lead_id] = create_records(
        sf,
        "Lead",
        [
            {
                "LastName": "Hand",
                "Company": "Hand Co",
                "Email": "hand@handco.example.com",
                "Description": "What does it cost per seat?",
            }
        ],
    )
    runner = CliRunner()

    first = runner.invoke(app, ["template", "--lead-id", lead_id, "--send"])
    second = runner.invoke(app, ["template", "--lead-id", lead_id, "--send"])

    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["outcome"] == "sent"
    assert json.loads(second.output)["blocked"] == "duplicate"
    lead = sf.Lead.get(lead_id)
    assert lead["Suggested_Template__c"] == "pricing-quote"
    emails = sf.query(f"SELECT Id FROM EmailMessage WHERE RelatedToId = '{lead_id}'")
    assert emails["totalSize"] == 1


def test_dlq_replay_puts_the_message_back_on_its_queue(cli_env: redis.Redis) -> None:
    """replay re-sends a dead-lettered route message to lead.route and removes the entry."""
    stream = DeadLetterStream(cli_env, PREFIX)
    payload = {
        "event_id": "/data/LeadChangeEvent:0b:0",
        "topic": "/data/LeadChangeEvent",
        "replay_id": "0b",
        "record_id": "00Q000000000001AAA",
        "entity": "Lead",
        "change_type": "CREATE",
        "commit_timestamp": "2026-03-02T09:00:00Z",
        "commit_user": "005000000000001AAA",
        "message_type": "lead_created",
        "fields": {"LastName": "Ada"},
    }
    entry_id = stream.add(
        "worker",
        "retries exhausted",
        payload,
        task="lead.route",
        attempts=9,
        first_seen=datetime.now(UTC),
    )
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list"])
    replayed = runner.invoke(app, ["dlq", "replay", entry_id])

    assert json.loads(listed.output.splitlines()[0])["id"] == entry_id
    assert replayed.exit_code == 0, replayed.output
    assert stream.length() == 0
    [queued] = peek_queue(cli_env, "lead.route")
    assert queued.event_id == payload["event_id"]
