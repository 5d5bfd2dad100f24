"""Queue messages survive the trip through JSON unchanged and refuse anything off-contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.messages import (
    QUEUES,
    TASK_NAMES,
    TASK_QUEUES,
    LeadCreatedMessage,
    OwnerChangedMessage,
    Queue,
    QueueMessage,
    ReconcileMessage,
    RereadMessage,
    ResponseActivityMessage,
    TaskName,
    event_id,
    parse_queue_message,
)

COMMIT = datetime(2024, 5, 1, 9, 30, 0, 123_000, tzinfo=UTC)
LEAD = "00Q5e00000AbCdEAAV"
REPLAY = bytes.fromhex("000000000010db4d0000")


def _change(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": event_id("/data/LeadChangeEvent", REPLAY, 0),
        "topic": "/data/LeadChangeEvent",
        "replay_id": REPLAY.hex(),
        "record_id": LEAD,
        "entity": "Lead",
        "change_type": "CREATE",
        "commit_timestamp": COMMIT,
        "commit_user": "0055e000001AbCdAAE",
        "change_origin": "com/salesforce/api/rest/62.0;client=web-form",
        "transaction_key": "0001c5d1-8b5c-4b6d-a3c1-9d2a3c1b2a10",
        "changed_fields": ["LastName", "Company"],
        "fields": {
            "LastName": "Lovelace",
            "Company": "Engines",
            "NumberOfEmployees": 250,
            "Latitude": 51.5,
            "HasOptedOutOfEmail": False,
            "Title": None,
            "CreatedDate": "2024-05-01T09:30:00.000Z",
        },
    }
    base.update(overrides)
    return base


MESSAGES: list[QueueMessage] = [
    LeadCreatedMessage(**_change()),
    ResponseActivityMessage(
        **_change(entity="Task", record_id="00T5e00000QrStUAAU", change_type="UPDATE"),
        source="Task",
        lead_id=None,
    ),
    ResponseActivityMessage(
        **_change(entity="EmailMessage", record_id="02s5e00000LmNoPAAQ"),
        source="EmailMessage",
        lead_id=LEAD,
    ),
    OwnerChangedMessage(**_change(change_type="UPDATE"), new_owner_id="0055e000001XyZwAAE"),
    RereadMessage(
        **_change(change_type="GAP_UPDATE", fields={}, changed_fields=[]),
        record_ids=[LEAD, "00Q5e00000AbCdFAAV"],
    ),
    ReconcileMessage(
        event_id=event_id("/data/TaskChangeEvent", REPLAY, 0),
        topic="/data/TaskChangeEvent",
        entity="Task",
        since=COMMIT - timedelta(minutes=10),
        until=COMMIT,
        reason="gap_overflow",
        replay_id=REPLAY.hex(),
    ),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_json_round_trip_gives_back_the_same_message(message: QueueMessage) -> None:
    """What the listener enqueues is exactly what the worker reads, including its type."""
    text = message.model_dump_json()
    assert json.loads(text)["schema_version"] == 1
    parsed = parse_queue_message(text)
    assert type(parsed) is type(message)
    assert parsed == message


def test_commit_timestamp_travels_as_utc_iso_text() -> None:
    """Timestamps are ISO-8601 on the wire, so any consumer can read them."""
    payload = json.loads(MESSAGES[0].model_dump_json())
    assert payload["commit_timestamp"] == "2024-05-01T09:30:00.123000Z"


@pytest.mark.parametrize(
    "change",
    [
        _change(unexpected="field"),
        _change(schema_version=2),
        _change(commit_timestamp=datetime(2024, 5, 1, 9, 30)),
        _change(change_type="SNAPSHOT"),
        _change(replay_id="not-hex"),
        _change(event_id=""),
        _change(fields={"When": datetime(2024, 5, 1, tzinfo=UTC)}),
    ],
    ids=[
        "extra-field",
        "future-schema-version",
        "naive-timestamp",
        "unknown-change-type",
        "replay-id-not-hex",
        "empty-event-id",
        "field-value-not-json",
    ],
)
def test_off_contract_message_is_rejected(change: dict[str, Any]) -> None:
    """A message that does not match the contract fails loudly instead of reaching a workload."""
    with pytest.raises(ValidationError):
        LeadCreatedMessage.model_validate(change)


def test_reconcile_window_must_not_run_backwards() -> None:
    """A reconcile whose since is after its until is a bug, not an empty query."""
    with pytest.raises(ValidationError, match="is after until"):
        ReconcileMessage(
            event_id="x",
            topic="/data/LeadChangeEvent",
            entity="Lead",
            since=COMMIT,
            until=COMMIT - timedelta(seconds=1),
            reason="replay_expired",
        )


def test_every_task_has_a_queue_and_the_workload_queues_exist() -> None:
    """The Celery app can route every task name to a declared queue."""
    assert {
        "lead.route",
        "lead.first_touch_detect",
        "outreach.template_suggest",
        "flywheel",
        "analytics",
    } <= set(QUEUES)
    assert set(TASK_QUEUES) == set(TASK_NAMES)
    assert set(TASK_QUEUES.values()) <= set(QUEUES)


@pytest.mark.parametrize(
    ("message", "task", "queue"),
    [
        (MESSAGES[0], TaskName.LEAD_ROUTE, Queue.LEAD_ROUTE),
        (MESSAGES[1], TaskName.FIRST_TOUCH_DETECT, Queue.FIRST_TOUCH_DETECT),
        (MESSAGES[3], TaskName.ROUTE_FEEDBACK, Queue.FLYWHEEL),
        (MESSAGES[4], TaskName.REREAD, Queue.RECOVERY),
        (MESSAGES[5], TaskName.RECONCILE, Queue.RECOVERY),
    ],
    ids=["lead-created", "response-activity", "owner-changed", "reread", "reconcile"],
)
def test_each_message_names_its_task_and_queue(
    message: QueueMessage, task: TaskName, queue: Queue
) -> None:
    """The listener sends each message to the task and queue of its workload."""
    assert message.task_name == task
    assert message.queue == queue
