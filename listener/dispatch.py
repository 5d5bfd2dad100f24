"""The listener's routing rules: which queue message, if any, each normalized change becomes.

In order:

1. A change whose changeOrigin names our own client (``client=<own_client>``, the whole value,
   any case) is our own write echoing back: dropped, or routing would loop forever.
2. Entities other than Lead, Task and EmailMessage are dropped.
3. GAP_OVERFLOW names no records: reconcile the entity over the window before its commit time.
   Other GAP_* events carry ids but no fields: one RereadMessage for all ids, sent with the
   event's first record (later records give no message); a wildcard id such as ``00Q*``
   cannot be read by id, so the entity is reconciled instead.
4. Lead CREATE -> LeadCreatedMessage. Lead UPDATE that changes OwnerId -> OwnerChangedMessage
   (whether leadfleet routed that lead is for the worker to check).
5. Task CREATE or UPDATE that leaves it completed (Status Completed or IsClosed true; for an
   UPDATE, Status, IsClosed or WhoId must be among the changed fields) and whose WhoId is a
   Lead (prefix 00Q) -> ResponseActivityMessage. An UPDATE without WhoId (unchanged fields are
   not sent) gives lead_id None, and the worker reads the task.
6. EmailMessage CREATE, outgoing (Incoming false), not a draft (Status 5), related to a Lead
   -> ResponseActivityMessage.
7. Anything else is dropped with a reason, for the metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypedDict, cast

from listener.normalize import NormalizedChange
from shared.messages import (
    ChangeType,
    LeadCreatedMessage,
    OwnerChangedMessage,
    QueueMessage,
    ReconcileMessage,
    RereadMessage,
    ResponseActivityMessage,
)

LEAD_PREFIX = "00Q"
HANDLED_ENTITIES = ("Lead", "Task", "EmailMessage")
OVERFLOW_MARGIN = timedelta(minutes=10)
_TASK_COMPLETED = "Completed"
_EMAIL_DRAFT = "5"
_TOPIC_ENTITY = re.compile(r"/data/(\w+?)(__)?ChangeEvent")


class DropReason(StrEnum):
    """Why a change gives no message; a bounded set, so it can label a metric."""

    OWN_ECHO = "own_echo"
    UNHANDLED_ENTITY = "unhandled_entity"
    UNHANDLED_CHANGE_TYPE = "unhandled_change_type"
    OWNER_UNCHANGED = "owner_unchanged"
    TASK_NOT_COMPLETED = "task_not_completed"
    TASK_NOT_ON_LEAD = "task_not_on_lead"
    EMAIL_NOT_OUTGOING = "email_not_outgoing"
    EMAIL_DRAFT = "email_draft"
    EMAIL_NOT_ON_LEAD = "email_not_on_lead"


@dataclass(frozen=True, slots=True)
class Drop:
    """A change that gives no queue message, and why."""

    reason: DropReason
    detail: str = ""


def route(
    change: NormalizedChange, *, own_client: str, overflow_margin: timedelta = OVERFLOW_MARGIN
) -> list[QueueMessage] | Drop:
    """The messages a change gives (possibly none), or a Drop saying why it gives none."""
    echo = change.origin_client is not None and change.origin_client.lower() == own_client.lower()
    if own_client and echo:
        return Drop(DropReason.OWN_ECHO, change.change_origin)
    if change.entity not in HANDLED_ENTITIES:
        return Drop(DropReason.UNHANDLED_ENTITY, change.entity)
    if change.change_type.startswith("GAP_"):
        return _gap(change, overflow_margin)
    if change.entity == "Lead":
        return _lead(change)
    if change.entity == "Task":
        return _task(change)
    return _email(change)


def reconcile_lost_replay(
    topic: str, *, replay_id: bytes, since: datetime, until: datetime
) -> list[ReconcileMessage]:
    """Reconcile messages for a topic whose stored replay id is too old or corrupted to resume."""
    match = _TOPIC_ENTITY.fullmatch(topic)
    if match is None:
        entities: tuple[str, ...] = HANDLED_ENTITIES
    else:
        entities = (match.group(1) + ("__c" if match.group(2) else ""),)
    return [
        ReconcileMessage(
            event_id=f"{topic}:{replay_id.hex()}:replay_expired:{entity}",
            topic=topic,
            entity=entity,
            since=since,
            until=until,
            reason="replay_expired",
            replay_id=replay_id.hex(),
        )
        for entity in entities
    ]


def _lead(change: NormalizedChange) -> list[QueueMessage] | Drop:
    if change.change_type == "CREATE":
        return [LeadCreatedMessage(**_common(change))]
    if change.change_type != "UPDATE":
        return Drop(DropReason.UNHANDLED_CHANGE_TYPE, f"Lead {change.change_type}")
    if "OwnerId" not in change.changed_fields:
        return Drop(DropReason.OWNER_UNCHANGED)
    owner = change.fields.get("OwnerId")
    new_owner = owner if isinstance(owner, str) else None
    return [OwnerChangedMessage(new_owner_id=new_owner, **_common(change))]


def _task(change: NormalizedChange) -> list[QueueMessage] | Drop:
    if change.change_type not in ("CREATE", "UPDATE"):
        return Drop(DropReason.UNHANDLED_CHANGE_TYPE, f"Task {change.change_type}")
    fields = change.fields
    completed = fields.get("Status") == _TASK_COMPLETED or fields.get("IsClosed") is True
    relevant = change.change_type == "CREATE" or any(
        name in change.changed_fields for name in ("Status", "IsClosed", "WhoId")
    )
    if not (completed and relevant):
        return Drop(DropReason.TASK_NOT_COMPLETED, f"Status {fields.get('Status')!r}")
    if "WhoId" not in fields and change.change_type == "UPDATE":
        lead_id = None
    elif _is_lead_id(fields.get("WhoId")):
        lead_id = str(fields["WhoId"])
    else:
        return Drop(DropReason.TASK_NOT_ON_LEAD, f"WhoId {fields.get('WhoId')!r}")
    return [ResponseActivityMessage(source="Task", lead_id=lead_id, **_common(change))]


def _email(change: NormalizedChange) -> list[QueueMessage] | Drop:
    if change.change_type != "CREATE":
        return Drop(DropReason.UNHANDLED_CHANGE_TYPE, f"EmailMessage {change.change_type}")
    fields = change.fields
    if fields.get("Incoming") is not False:
        return Drop(DropReason.EMAIL_NOT_OUTGOING, f"Incoming {fields.get('Incoming')!r}")
    if fields.get("Status") == _EMAIL_DRAFT:
        return Drop(DropReason.EMAIL_DRAFT)
    related = fields.get("RelatedToId")
    if not _is_lead_id(related):
        return Drop(DropReason.EMAIL_NOT_ON_LEAD, f"RelatedToId {related!r}")
    return [ResponseActivityMessage(source="EmailMessage", lead_id=str(related), **_common(change))]


def _gap(change: NormalizedChange, overflow_margin: timedelta) -> list[QueueMessage] | Drop:
    if change.change_type == "GAP_OVERFLOW" or any("*" in rid for rid in change.record_ids):
        if change.index > 0:
            return []
        return [
            ReconcileMessage(
                event_id=change.event_id,
                topic=change.topic,
                entity=change.entity,
                since=change.commit_timestamp - overflow_margin,
                until=change.commit_timestamp,
                reason="gap_overflow" if change.change_type == "GAP_OVERFLOW" else "gap_wildcard",
                replay_id=change.replay_id_hex,
            )
        ]
    if change.index > 0:
        return []
    return [RereadMessage(record_ids=list(change.record_ids), **_common(change))]


class _Common(TypedDict):
    event_id: str
    topic: str
    replay_id: str
    record_id: str
    entity: str
    change_type: ChangeType
    commit_timestamp: datetime
    commit_user: str
    change_origin: str
    transaction_key: str
    changed_fields: list[str]
    fields: dict[str, object]


def _common(change: NormalizedChange) -> _Common:
    """The ChangeMessage fields every event-derived message copies from the change."""
    return _Common(
        event_id=change.event_id,
        topic=change.topic,
        replay_id=change.replay_id_hex,
        record_id=change.record_id or "",
        entity=change.entity,
        # Only CREATE, UPDATE and GAP_* reach here; the message model validates the literal.
        change_type=cast(ChangeType, change.change_type),
        commit_timestamp=change.commit_timestamp,
        commit_user=change.commit_user,
        change_origin=change.change_origin,
        transaction_key=change.transaction_key,
        changed_fields=list(change.changed_fields),
        fields=dict(change.fields),
    )


def _is_lead_id(value: object) -> bool:
    # Key prefixes are case-sensitive: 00q is not a Lead.
    return (
        isinstance(value, str)
        and len(value) in (15, 18)
        and value.isalnum()
        and value.startswith(LEAD_PREFIX)
    )
