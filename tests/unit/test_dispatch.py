"""Each change goes to exactly the workload that needs it, and our own echoes go nowhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from listener.dispatch import Drop, DropReason, reconcile_lost_replay, route
from listener.normalize import NormalizedChange, origin_client
from shared.messages import (
    LeadCreatedMessage,
    OwnerChangedMessage,
    Queue,
    QueueMessage,
    ReconcileMessage,
    RereadMessage,
    ResponseActivityMessage,
)

OWN = "leadfleet"
LEAD = "00Q5e00000AbCdEAAV"
LEAD_2 = "00Q5e00000AbCdFAAV"
CONTACT = "0035e00000XyZwAAAE"
USER = "0055e000001AbCdAAE"
NEW_OWNER = "0055e000001XyZwAAE"
TASK = "00T5e00000QrStUAAU"
EMAIL = "02s5e00000LmNoPAAQ"
COMMIT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
REPLAY = bytes.fromhex("000000000010db4d0000")
HUMAN_ORIGIN = "com/salesforce/api/rest/62.0;client=salesforce-ui"
ECHO_ORIGIN = f"com/salesforce/api/rest/62.0;client={OWN}"


def change(
    entity: str,
    change_type: str,
    fields: dict[str, Any] | None = None,
    *,
    changed: tuple[str, ...] = (),
    origin: str = HUMAN_ORIGIN,
    record_ids: tuple[str, ...] | None = None,
    index: int = 0,
) -> NormalizedChange:
    """A normalized change as normalize() would build it."""
    default_id = {"Lead": LEAD, "Task": TASK, "EmailMessage": EMAIL}.get(
        entity, "0015e00000Abc12AAA"
    )
    ids = record_ids if record_ids is not None else (default_id,)
    return NormalizedChange(
        topic=f"/data/{entity}ChangeEvent",
        replay_id=REPLAY,
        index=index,
        record_id=ids[index] if ids else None,
        record_ids=ids,
        entity=entity,
        change_type=change_type,
        change_origin=origin,
        origin_client=origin_client(origin),
        transaction_key="0001c5d1-8b5c-4b6d-a3c1-9d2a3c1b2a10",
        sequence_number=1,
        commit_timestamp=COMMIT,
        commit_number=1,
        commit_user=USER,
        changed_fields=changed,
        nulled_fields=(),
        diff_fields=(),
        fields=fields or {},
    )


def _only_message(outcome: list[QueueMessage] | Drop) -> QueueMessage:
    assert isinstance(outcome, list), outcome
    [message] = outcome
    return message


LEAD_FIELDS = {"LastName": "Lovelace", "Company": "Engines", "Country": "UK", "OwnerId": USER}
DONE = {"Status": "Completed", "IsClosed": True}


@pytest.mark.parametrize(
    ("the_change", "reason"),
    [
        (change("Lead", "CREATE", LEAD_FIELDS, origin=ECHO_ORIGIN), DropReason.OWN_ECHO),
        (
            change(
                "Lead",
                "CREATE",
                LEAD_FIELDS,
                origin="com/salesforce/api/rest/62.0;client=LEADFLEET",
            ),
            DropReason.OWN_ECHO,
        ),
        (
            change(
                "Lead", "UPDATE", {"OwnerId": NEW_OWNER}, changed=("OwnerId",), origin=ECHO_ORIGIN
            ),
            DropReason.OWN_ECHO,
        ),
        (
            change("Task", "CREATE", {**DONE, "WhoId": LEAD}, origin=ECHO_ORIGIN),
            DropReason.OWN_ECHO,
        ),
        (
            change("Lead", "GAP_UPDATE", origin=ECHO_ORIGIN),
            DropReason.OWN_ECHO,
        ),
        (
            change("Lead", "UPDATE", {"Status": "Working"}, changed=("Status",)),
            DropReason.OWNER_UNCHANGED,
        ),
        (change("Lead", "DELETE"), DropReason.UNHANDLED_CHANGE_TYPE),
        (change("Lead", "UNDELETE", LEAD_FIELDS), DropReason.UNHANDLED_CHANGE_TYPE),
        (
            change("Task", "CREATE", {"Status": "Not Started", "IsClosed": False, "WhoId": LEAD}),
            DropReason.TASK_NOT_COMPLETED,
        ),
        (change("Task", "CREATE", {**DONE, "WhoId": CONTACT}), DropReason.TASK_NOT_ON_LEAD),
        (change("Task", "CREATE", {**DONE, "WhoId": None}), DropReason.TASK_NOT_ON_LEAD),
        (
            change("Task", "CREATE", {**DONE, "WhoId": "00q5e00000AbCdEAAV"}),
            DropReason.TASK_NOT_ON_LEAD,
        ),
        (
            change("Task", "UPDATE", {"Status": "In Progress"}, changed=("Status",)),
            DropReason.TASK_NOT_COMPLETED,
        ),
        (
            change(
                "Task",
                "UPDATE",
                {"Description": "notes", "Status": "Completed"},
                changed=("Description",),
            ),
            DropReason.TASK_NOT_COMPLETED,
        ),
        (
            change(
                "Task", "UPDATE", {**DONE, "WhoId": None}, changed=("Status", "IsClosed", "WhoId")
            ),
            DropReason.TASK_NOT_ON_LEAD,
        ),
        (change("Task", "DELETE"), DropReason.UNHANDLED_CHANGE_TYPE),
        (
            change(
                "EmailMessage", "CREATE", {"Incoming": True, "RelatedToId": LEAD, "Status": "0"}
            ),
            DropReason.EMAIL_NOT_OUTGOING,
        ),
        (
            change(
                "EmailMessage", "CREATE", {"Incoming": False, "RelatedToId": LEAD, "Status": "5"}
            ),
            DropReason.EMAIL_DRAFT,
        ),
        (
            change(
                "EmailMessage", "CREATE", {"Incoming": False, "RelatedToId": CONTACT, "Status": "3"}
            ),
            DropReason.EMAIL_NOT_ON_LEAD,
        ),
        (
            change("EmailMessage", "UPDATE", {"Status": "1"}, changed=("Status",)),
            DropReason.UNHANDLED_CHANGE_TYPE,
        ),
        (change("Account", "CREATE", {"Name": "Acme"}), DropReason.UNHANDLED_ENTITY),
        (change("Account", "GAP_OVERFLOW", record_ids=()), DropReason.UNHANDLED_ENTITY),
    ],
    ids=[
        "lead-create-own-echo",
        "lead-create-own-echo-any-case",
        "lead-owner-change-own-echo",
        "task-create-own-echo",
        "gap-own-echo",
        "lead-update-without-owner",
        "lead-delete",
        "lead-undelete",
        "task-create-open",
        "task-create-on-contact",
        "task-create-without-who",
        "task-create-lowercase-prefix-is-not-a-lead",
        "task-update-to-in-progress",
        "task-update-other-field-of-completed-task",
        "task-update-who-cleared",
        "task-delete",
        "email-incoming",
        "email-draft",
        "email-on-contact",
        "email-update",
        "account-create",
        "account-overflow",
    ],
)
def test_irrelevant_change_is_dropped_with_its_reason(
    the_change: NormalizedChange, reason: DropReason
) -> None:
    """Changes no workload needs give no message and a reason for the metrics."""
    outcome = route(the_change, own_client=OWN)
    assert isinstance(outcome, Drop)
    assert outcome.reason == reason


@pytest.mark.parametrize(
    ("the_change", "message_type", "queue", "lead_id"),
    [
        (change("Lead", "CREATE", LEAD_FIELDS), LeadCreatedMessage, Queue.LEAD_ROUTE, LEAD),
        (
            change(
                "Lead",
                "CREATE",
                LEAD_FIELDS,
                origin="com/salesforce/api/rest/62.0;client=leadfleet-dev",
            ),
            LeadCreatedMessage,
            Queue.LEAD_ROUTE,
            LEAD,
        ),
        (
            change("Lead", "CREATE", LEAD_FIELDS, origin=""),
            LeadCreatedMessage,
            Queue.LEAD_ROUTE,
            LEAD,
        ),
        (
            change(
                "Lead", "UPDATE", {"OwnerId": NEW_OWNER}, changed=("OwnerId", "LastModifiedDate")
            ),
            OwnerChangedMessage,
            Queue.FLYWHEEL,
            LEAD,
        ),
        (
            change("Task", "CREATE", {**DONE, "WhoId": LEAD}),
            ResponseActivityMessage,
            Queue.FIRST_TOUCH_DETECT,
            LEAD,
        ),
        (
            change("Task", "CREATE", {"Status": "Done (custom)", "IsClosed": True, "WhoId": LEAD}),
            ResponseActivityMessage,
            Queue.FIRST_TOUCH_DETECT,
            LEAD,
        ),
        (
            change(
                "Task",
                "UPDATE",
                {"Status": "Completed", "IsClosed": True},
                changed=("Status", "IsClosed"),
            ),
            ResponseActivityMessage,
            Queue.FIRST_TOUCH_DETECT,
            None,
        ),
        (
            change(
                "Task", "UPDATE", {**DONE, "WhoId": LEAD}, changed=("Status", "IsClosed", "WhoId")
            ),
            ResponseActivityMessage,
            Queue.FIRST_TOUCH_DETECT,
            LEAD,
        ),
        (
            change(
                "EmailMessage", "CREATE", {"Incoming": False, "RelatedToId": LEAD, "Status": "3"}
            ),
            ResponseActivityMessage,
            Queue.FIRST_TOUCH_DETECT,
            LEAD,
        ),
    ],
    ids=[
        "lead-create",
        "lead-create-by-similar-client-name",
        "lead-create-without-origin",
        "lead-owner-changed-by-person",
        "task-created-completed-on-lead",
        "task-created-closed-custom-status",
        "task-completed-update-without-whoid",
        "task-completed-update-with-lead-whoid",
        "email-outgoing-on-lead",
    ],
)
def test_relevant_change_gives_one_message_on_its_queue(
    the_change: NormalizedChange, message_type: type, queue: Queue, lead_id: str | None
) -> None:
    """Each relevant change gives exactly one message of the right kind, on the right queue."""
    outcome = route(the_change, own_client=OWN)
    assert isinstance(outcome, list)
    [message] = outcome
    assert isinstance(message, message_type)
    assert message.queue == queue
    found_lead = getattr(message, "lead_id", getattr(message, "record_id", None))
    assert found_lead == lead_id


def test_lead_created_message_carries_the_snapshot_and_stable_id() -> None:
    """Routing gets the whole lead and an event id that repeats if the event is redelivered."""
    message = _only_message(route(change("Lead", "CREATE", LEAD_FIELDS), own_client=OWN))
    assert isinstance(message, LeadCreatedMessage)
    assert message.fields == LEAD_FIELDS
    assert message.event_id == "/data/LeadChangeEvent:000000000010db4d0000:0"
    assert message.replay_id == "000000000010db4d0000"
    assert message.commit_timestamp == COMMIT
    assert message.change_type == "CREATE"


def test_owner_change_carries_new_owner_and_who_changed_it() -> None:
    """The feedback record needs the new owner and the person; CDC cannot say the old owner."""
    the_change = change("Lead", "UPDATE", {"OwnerId": NEW_OWNER}, changed=("OwnerId",))
    message = _only_message(route(the_change, own_client=OWN))
    assert isinstance(message, OwnerChangedMessage)
    assert message.new_owner_id == NEW_OWNER
    assert message.commit_user == USER


def test_response_message_names_its_source() -> None:
    """First-touch detection is told whether the response was a Task or an EmailMessage."""
    task = route(change("Task", "CREATE", {**DONE, "WhoId": LEAD}), own_client=OWN)
    email = route(
        change("EmailMessage", "CREATE", {"Incoming": False, "RelatedToId": LEAD, "Status": "3"}),
        own_client=OWN,
    )
    assert isinstance(task, list) and isinstance(email, list)
    assert [m.source for m in task + email if isinstance(m, ResponseActivityMessage)] == [
        "Task",
        "EmailMessage",
    ]


@pytest.mark.parametrize(
    "change_type", ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"], ids=str.lower
)
def test_gap_event_is_reread_once_for_all_its_records(change_type: str) -> None:
    """A gap event carries no fields: one re-read covers all its ids, sent with the first record."""
    ids = (LEAD, LEAD_2)
    first = route(change("Lead", change_type, record_ids=ids, index=0), own_client=OWN)
    second = route(change("Lead", change_type, record_ids=ids, index=1), own_client=OWN)

    assert isinstance(first, list)
    [message] = first
    assert isinstance(message, RereadMessage)
    assert message.record_ids == [LEAD, LEAD_2]
    assert message.entity == "Lead"
    assert message.queue == Queue.RECOVERY
    assert second == []


def test_gap_overflow_reconciles_the_entity_before_its_commit() -> None:
    """GAP_OVERFLOW names no ids: reconcile records modified in the margin before the commit."""
    outcome = route(
        change("Task", "GAP_OVERFLOW", record_ids=()),
        own_client=OWN,
        overflow_margin=timedelta(minutes=15),
    )
    assert isinstance(outcome, list)
    [message] = outcome
    assert isinstance(message, ReconcileMessage)
    assert (message.entity, message.reason) == ("Task", "gap_overflow")
    assert message.since == COMMIT - timedelta(minutes=15)
    assert message.until == COMMIT
    assert message.queue == Queue.RECOVERY


def test_gap_with_wildcard_id_reconciles_instead_of_rereading() -> None:
    """A wildcard id such as 00Q* cannot be read by id, so the entity is reconciled."""
    outcome = route(change("Lead", "GAP_UPDATE", record_ids=("00Q*",)), own_client=OWN)
    assert isinstance(outcome, list)
    [message] = outcome
    assert isinstance(message, ReconcileMessage)
    assert message.reason == "gap_wildcard"


@pytest.mark.parametrize(
    ("topic", "entities"),
    [
        ("/data/LeadChangeEvent", ["Lead"]),
        ("/data/Employee__ChangeEvent", ["Employee__c"]),
        ("/data/ChangeEvents", ["Lead", "Task", "EmailMessage"]),
    ],
    ids=["standard-object", "custom-object", "all-entities-channel"],
)
def test_lost_replay_position_reconciles_each_entity_of_the_topic(
    topic: str, entities: list[str]
) -> None:
    """When a stored replay id expired, every entity the topic carries is reconciled."""
    since = COMMIT - timedelta(days=4)
    messages = reconcile_lost_replay(topic, replay_id=REPLAY, since=since, until=COMMIT)
    assert [m.entity for m in messages] == entities
    assert all(m.reason == "replay_expired" and m.since == since for m in messages)
    assert len({m.event_id for m in messages}) == len(entities)


def test_unset_own_client_treats_no_change_as_an_echo() -> None:
    """With no client configured, an empty client= in changeOrigin is not taken for our echo."""
    the_change = change(
        "Lead", "CREATE", LEAD_FIELDS, origin="com/salesforce/api/rest/62.0;client="
    )
    outcome = route(the_change, own_client="")
    assert isinstance(outcome, list)
    assert isinstance(outcome[0], LeadCreatedMessage)
