"""Recovering changes the stream could not deliver: re-reads by id and reconciliation windows.

Recovery runs inline in the listener: it only reads (SOQL through the production client), and
what it finds is enqueued as the same queue messages a change event would have given, so
workers see no difference. Gap events (GAP_CREATE/UPDATE/UNDELETE) re-read their record ids;
GAP_OVERFLOW, wildcard gaps and a lost replay position reconcile an entity over a time window.
Polling mode reuses the window queries.

Rules applied to what is read (a pure function of the record, `recovered_message`):

- Lead: lead.route. A re-read lead only while it has no owner decision yet
  (``Owner_Assigned_At__c`` empty); a reconciled lead whenever it was created in the window.
- Task: lead.first_touch_detect when Completed, of type Call, Email or Meeting, on a Lead.
- EmailMessage: lead.first_touch_detect when outgoing, not a draft, related to a Lead.

Window fields: Lead ``CreatedDate``, Task ``LastModifiedDate`` (a task completes by an
update), EmailMessage ``CreatedDate`` (``MessageDate`` is set by whoever logs the email and
may lie far before the record existed, so a window on it could miss what the stream lost).

Recovered messages carry event ids built from the source, the record id and the record's
window timestamp (``reconcile:Task:00T...:2024-05-01T09:30:00.000Z``): reading the same record
in the same state again gives the same id, and workers are idempotent either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import JsonValue

from listener.dispatch import LEAD_PREFIX, Drop, DropReason
from shared.messages import (
    ChangeType,
    LeadCreatedMessage,
    QueueMessage,
    ReconcileMessage,
    RereadMessage,
    ResponseActivityMessage,
)
from shared.salesforce.client import SalesforceClient
from shared.salesforce.ids import is_valid_id
from shared.salesforce.port import COMPLETED_TASK_STATUS, DRAFT_EMAIL_STATUS, RESPONSE_TASK_TYPES
from shared.salesforce.soql import datetime_literal, id_list, quote

RecoverySource = Literal["reread", "reconcile", "poll"]

# The fields a recovered record carries in its message, like a change event's snapshot.
RECORD_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Lead": (
        "Id", "FirstName", "LastName", "Company", "Title", "Email", "Phone", "Website",
        "Street", "City", "State", "PostalCode", "Country", "NumberOfEmployees", "Industry",
        "LeadSource", "Status", "Rating", "Description", "OwnerId", "HasOptedOutOfEmail",
        "EmailBouncedDate", "Product_Interest__c", "First_Response_At__c",
        "Owner_Assigned_At__c", "CreatedDate", "CreatedById", "LastModifiedDate",
        "LastModifiedById",
    ),
    "Task": (
        "Id", "WhoId", "WhatId", "Subject", "Status", "Type", "Priority", "OwnerId",
        "ActivityDate", "CompletedDateTime", "IsClosed", "CreatedDate", "CreatedById",
        "LastModifiedDate", "LastModifiedById",
    ),
    "EmailMessage": (
        "Id", "RelatedToId", "ParentId", "Subject", "FromAddress", "ToAddress", "Incoming",
        "MessageDate", "Status", "CreatedDate", "CreatedById", "LastModifiedDate",
        "LastModifiedById",
    ),
}  # fmt: skip
WINDOW_FIELD: Mapping[str, str] = {
    "Lead": "CreatedDate",
    "Task": "LastModifiedDate",
    "EmailMessage": "CreatedDate",
}
ENTITY_PREFIX: Mapping[str, str] = {"Lead": "00Q", "Task": "00T", "EmailMessage": "02s"}
# Who made a record, for recognising leadfleet's own writes where no changeOrigin exists.
AUTHOR_FIELD: Mapping[str, str] = {
    "Lead": "CreatedById",
    "Task": "LastModifiedById",
    "EmailMessage": "CreatedById",
}
ROUTED_MARKER = "Owner_Assigned_At__c"
_DATETIME_FIELDS = frozenset(
    {
        "CreatedDate",
        "LastModifiedDate",
        "EmailBouncedDate",
        "First_Response_At__c",
        "Owner_Assigned_At__c",
        "CompletedDateTime",
        "MessageDate",
    }
)
_REREAD_TYPES: Mapping[str, ChangeType] = {
    "GAP_CREATE": "CREATE",
    "GAP_UPDATE": "UPDATE",
    "GAP_UNDELETE": "UNDELETE",
}
# Ids per IN list: the query URL stays far below Salesforce's 16,384 characters.
_IN_LIST_SIZE = 200


class RecordReader(Protocol):
    """Runs a SOQL query and returns every record (all pages), each a dict of REST fields."""

    def query_records(self, sobject: str, soql: str) -> list[dict[str, Any]]:
        """The records a query selects."""
        ...


# The production client already has the generic read recovery needs.
SalesforceRecordReader = SalesforceClient


@dataclass(frozen=True, slots=True)
class RecoveredRecord:
    """One record read back, its window timestamp, and the message it gives (or why none)."""

    entity: str
    record_id: str
    stamp: datetime
    outcome: QueueMessage | Drop


def reread_soql(entity: str, record_ids: Sequence[str]) -> str:
    """SELECT the recovery fields of records by id (at most 200 ids)."""
    fields = ", ".join(RECORD_FIELDS[entity])
    prefixes = (ENTITY_PREFIX[entity],)
    return f"SELECT {fields} FROM {entity} WHERE Id IN {id_list(record_ids, prefixes)}"  # noqa: S608 - soql.py literals


def window_soql(entity: str, since: datetime, until: datetime | None) -> str:
    """SELECT the records of an entity whose window field lies in [since, until]."""
    stamp = WINDOW_FIELD[entity]
    clauses = [f"{stamp} >= {datetime_literal(since)}"]
    if until is not None:
        # SOQL literals have whole seconds; rounding up keeps the last second's records in.
        ceiling = until + timedelta(seconds=1) if until.microsecond else until
        clauses.append(f"{stamp} <= {datetime_literal(ceiling)}")
    if entity == "Task":
        types = ", ".join(quote(t) for t in RESPONSE_TASK_TYPES)
        clauses += [f"Status = {quote(COMPLETED_TASK_STATUS)}", f"Type IN ({types})"]
    elif entity == "EmailMessage":
        clauses += ["Incoming = false", f"Status != {quote(DRAFT_EMAIL_STATUS)}"]
    fields = ", ".join(RECORD_FIELDS[entity])
    return (
        f"SELECT {fields} FROM {entity} WHERE {' AND '.join(clauses)}"  # noqa: S608 - soql.py literals
        f" ORDER BY {stamp} ASC, Id ASC"
    )


def record_fields(entity: str, record: Mapping[str, Any]) -> dict[str, JsonValue]:
    """A REST record as a message snapshot: recovery fields only, date-times in ISO-8601 Z."""
    fields: dict[str, JsonValue] = {}
    for name in RECORD_FIELDS[entity]:
        if name not in record:
            continue
        value = record[name]
        if name in _DATETIME_FIELDS and isinstance(value, str):
            value = iso_z(parse_datetime(value))
        fields[name] = value
    return fields


def parse_datetime(value: str) -> datetime:
    """A REST date-time (``2024-05-01T09:30:00.000+0000``) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value)
    aware = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return aware.astimezone(UTC)


def iso_z(value: datetime) -> str:
    """A datetime as change events carry it: UTC with milliseconds and Z."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recovered_message(
    entity: str,
    record: Mapping[str, Any],
    *,
    topic: str,
    replay_id: str,
    change_type: ChangeType,
    source: RecoverySource,
    unrouted_only: bool,
    own_user_id: str | None = None,
) -> QueueMessage | Drop:
    """The message a re-read record gives under the change rules, or a Drop saying why not."""
    fields = record_fields(entity, record)
    record_id = str(fields.get("Id") or "")
    stamp_value = fields.get(WINDOW_FIELD[entity]) or fields.get("LastModifiedDate")
    stamp = str(stamp_value or "")
    author = fields.get(AUTHOR_FIELD[entity])
    if own_user_id and isinstance(author, str) and author[:15] == own_user_id[:15]:
        return Drop(DropReason.OWN_ECHO, f"{AUTHOR_FIELD[entity]} {author}")
    modified = fields.get("LastModifiedDate") or stamp
    common: dict[str, Any] = {
        "event_id": f"{source}:{entity}:{record_id}:{stamp}",
        "topic": topic,
        "replay_id": replay_id,
        "record_id": record_id,
        "entity": entity,
        "change_type": change_type,
        "commit_timestamp": parse_datetime(str(modified)) if modified else datetime.now(UTC),
        "commit_user": str(fields.get("LastModifiedById") or ""),
        "fields": fields,
    }
    if entity == "Lead":
        if unrouted_only and fields.get(ROUTED_MARKER):
            return Drop(DropReason.OWNER_UNCHANGED, "lead already has an owner decision")
        return LeadCreatedMessage(**common)
    if entity == "Task":
        if fields.get("Status") != COMPLETED_TASK_STATUS:
            return Drop(DropReason.TASK_NOT_COMPLETED, f"Status {fields.get('Status')!r}")
        if fields.get("Type") not in RESPONSE_TASK_TYPES:
            return Drop(DropReason.TASK_NOT_COMPLETED, f"Type {fields.get('Type')!r}")
        who = fields.get("WhoId")
        if not _is_lead_id(who):
            return Drop(DropReason.TASK_NOT_ON_LEAD, f"WhoId {who!r}")
        return ResponseActivityMessage(source="Task", lead_id=str(who), **common)
    if entity == "EmailMessage":
        if fields.get("Incoming") is not False:
            return Drop(DropReason.EMAIL_NOT_OUTGOING, f"Incoming {fields.get('Incoming')!r}")
        if fields.get("Status") == DRAFT_EMAIL_STATUS:
            return Drop(DropReason.EMAIL_DRAFT)
        related = fields.get("RelatedToId")
        if not _is_lead_id(related):
            return Drop(DropReason.EMAIL_NOT_ON_LEAD, f"RelatedToId {related!r}")
        return ResponseActivityMessage(source="EmailMessage", lead_id=str(related), **common)
    return Drop(DropReason.UNHANDLED_ENTITY, entity)


class Recovery:
    """Re-reads and reconciliations through a RecordReader, giving ready queue messages."""

    def __init__(self, reader: RecordReader) -> None:
        self._reader = reader

    def reread(self, message: RereadMessage) -> list[RecoveredRecord]:
        """Read a gap event's records by id; deleted records (GAP_DELETE, or gone) give nothing."""
        change_type = _REREAD_TYPES.get(message.change_type)
        if change_type is None or message.entity not in RECORD_FIELDS:
            return []
        ids = [rid for rid in dict.fromkeys(message.record_ids) if is_valid_id(rid)]
        found: list[RecoveredRecord] = []
        for start in range(0, len(ids), _IN_LIST_SIZE):
            soql = reread_soql(message.entity, ids[start : start + _IN_LIST_SIZE])
            found += self._recover(
                message.entity,
                self._reader.query_records(message.entity, soql),
                topic=message.topic,
                replay_id=message.replay_id,
                change_type=lambda _record: change_type,
                source="reread",
                unrouted_only=True,
                own_user_id=None,
            )
        return found

    def reconcile(self, message: ReconcileMessage) -> list[RecoveredRecord]:
        """Read an entity's records changed in the message's window."""
        return self.window(
            message.entity,
            message.since,
            message.until,
            topic=message.topic,
            replay_id=message.replay_id or "",
            source="reconcile",
        )

    def window(
        self,
        entity: str,
        since: datetime,
        until: datetime | None,
        *,
        topic: str,
        replay_id: str = "",
        source: RecoverySource,
        own_user_id: str | None = None,
    ) -> list[RecoveredRecord]:
        """Read an entity's records whose window field lies in [since, until].

        Records authored by own_user_id are dropped as leadfleet's own writes (polling only:
        gap events were already filtered by their changeOrigin).
        """
        if entity not in RECORD_FIELDS:
            return []
        records = self._reader.query_records(entity, window_soql(entity, since, until))
        return self._recover(
            entity,
            records,
            topic=topic,
            replay_id=replay_id,
            change_type=lambda record: _created_or_updated(entity, record),
            source=source,
            unrouted_only=False,
            own_user_id=own_user_id,
        )

    def _recover(
        self,
        entity: str,
        records: Iterable[Mapping[str, Any]],
        *,
        topic: str,
        replay_id: str,
        change_type: Callable[[Mapping[str, Any]], ChangeType],
        source: RecoverySource,
        unrouted_only: bool,
        own_user_id: str | None,
    ) -> list[RecoveredRecord]:
        recovered = []
        for record in records:
            record_id = str(record.get("Id") or "")
            if not record_id:
                continue
            stamp_text = record.get(WINDOW_FIELD[entity]) or record.get("LastModifiedDate")
            stamp = parse_datetime(str(stamp_text)) if stamp_text else datetime.now(UTC)
            outcome = recovered_message(
                entity,
                record,
                topic=topic,
                replay_id=replay_id,
                change_type=change_type(record),
                source=source,
                unrouted_only=unrouted_only,
                own_user_id=own_user_id,
            )
            recovered.append(RecoveredRecord(entity, record_id, stamp, outcome))
        return recovered


def _created_or_updated(entity: str, record: Mapping[str, Any]) -> ChangeType:
    if entity == "Lead" or record.get("CreatedDate") == record.get("LastModifiedDate"):
        return "CREATE"
    return "UPDATE"


def _is_lead_id(value: object) -> bool:
    return isinstance(value, str) and value.startswith(LEAD_PREFIX) and is_valid_id(value)
