"""Queue messages between the listener and the workers, and the queue and task names they travel on.

A message is JSON (pydantic, ``extra="forbid"``, ``schema_version`` 1). Messages built from a
change event share `ChangeMessage`: a stable ``event_id`` (``<topic>:<replay id hex>:<record
index>``), so a redelivered event yields the same ids and workers can deduplicate, and
``fields``, the event's snapshot of the record in Salesforce REST field names:

- a CREATE or UNDELETE carries every field (empty ones as null), so routing needs no API call;
- any other change carries the fields that changed (set to null when nulled) plus any field the
  event filled anyway (enriched fields); an unchanged field is absent, never null;
- date-time values are ISO-8601 UTC strings (``2024-05-01T09:30:00.000Z``), dates ``YYYY-MM-DD``;
- compound fields are flattened to their REST names: Name to FirstName, LastName, Salutation...;
  Address to Street, City, State, PostalCode, Country...; BillingAddress to BillingStreet,
  BillingCity...; a geolocation Location__c to Location__Latitude__s, Location__Longitude__s.

``changed_fields`` uses the same REST names and keeps a compound's own name (Name, Address) when
the event marks it changed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    model_validator,
)

from shared.models import ResponseSource


class Queue(StrEnum):
    """A Celery queue: one per workload, so each can be scaled and watched on its own."""

    LEAD_ROUTE = "lead.route"
    FIRST_TOUCH_DETECT = "lead.first_touch_detect"
    TEMPLATE_SUGGEST = "outreach.template_suggest"
    FLYWHEEL = "flywheel"
    ANALYTICS = "analytics"
    # Gap and overflow recovery re-reads Salesforce in bulk; its own queue keeps it from
    # delaying routing.
    RECOVERY = "recovery"


class TaskName(StrEnum):
    """A Celery task name; the listener sends the first six, beat schedules the rest."""

    LEAD_ROUTE = "lead.route"
    FIRST_TOUCH_DETECT = "lead.first_touch_detect"
    TEMPLATE_SUGGEST = "outreach.template_suggest"
    ROUTE_FEEDBACK = "lead.route.feedback"
    REREAD = "listener.reread"
    RECONCILE = "listener.reconcile"
    SLA_SWEEP = "lead.sla_sweep"
    FLYWHEEL_FLUSH = "flywheel.flush"
    ANALYTICS_REPORT = "analytics.report"
    ANALYTICS_ALERTS = "analytics.alerts"


QUEUES: tuple[Queue, ...] = tuple(Queue)
TASK_NAMES: tuple[TaskName, ...] = tuple(TaskName)
TASK_QUEUES: dict[TaskName, Queue] = {
    TaskName.LEAD_ROUTE: Queue.LEAD_ROUTE,
    TaskName.FIRST_TOUCH_DETECT: Queue.FIRST_TOUCH_DETECT,
    TaskName.TEMPLATE_SUGGEST: Queue.TEMPLATE_SUGGEST,
    TaskName.ROUTE_FEEDBACK: Queue.FLYWHEEL,
    TaskName.REREAD: Queue.RECOVERY,
    TaskName.RECONCILE: Queue.RECOVERY,
    TaskName.SLA_SWEEP: Queue.FIRST_TOUCH_DETECT,
    TaskName.FLYWHEEL_FLUSH: Queue.FLYWHEEL,
    TaskName.ANALYTICS_REPORT: Queue.ANALYTICS,
    TaskName.ANALYTICS_ALERTS: Queue.ANALYTICS,
}

ChangeType = Literal[
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
]
ReconcileReason = Literal["gap_overflow", "gap_wildcard", "replay_expired"]


def event_id(topic: str, replay_id: bytes, index: int) -> str:
    """The stable id of one record of one change event: topic, replay id in hex, record index."""
    return f"{topic}:{replay_id.hex()}:{index}"


class QueueMessage(BaseModel):
    """Every queue message: versioned, idempotency-keyed by event_id, strict about its fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_name: ClassVar[TaskName]

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1)
    topic: str = Field(min_length=1)

    @property
    def queue(self) -> Queue:
        """The queue the message is enqueued on."""
        return TASK_QUEUES[self.task_name]


class ChangeMessage(QueueMessage):
    """A message built from one record of a change event."""

    replay_id: str = Field(pattern=r"^[0-9a-f]*$", description="The event's replay id in hex.")
    record_id: str = Field(min_length=1)
    entity: str = Field(min_length=1)
    change_type: ChangeType
    commit_timestamp: AwareDatetime
    commit_user: str
    change_origin: str = ""
    transaction_key: str = ""
    changed_fields: list[str] = Field(default_factory=list)
    fields: dict[str, JsonValue] = Field(default_factory=dict)


class LeadCreatedMessage(ChangeMessage):
    """A new Lead to route; fields holds the whole record."""

    task_name: ClassVar[TaskName] = TaskName.LEAD_ROUTE
    message_type: Literal["lead_created"] = "lead_created"


class ResponseActivityMessage(ChangeMessage):
    """A completed Task or an outgoing EmailMessage that may be a lead's first response.

    lead_id is None when the event did not carry WhoId (an UPDATE carries only changed fields),
    so the worker reads the record to find the lead.
    """

    task_name: ClassVar[TaskName] = TaskName.FIRST_TOUCH_DETECT
    message_type: Literal["response_activity"] = "response_activity"
    source: ResponseSource
    lead_id: str | None


class OwnerChangedMessage(ChangeMessage):
    """A person changed a Lead's owner: a label for the routing flywheel.

    Change events do not say who the owner was, so the message carries the new OwnerId and, in
    commit_user, who made the change.
    """

    task_name: ClassVar[TaskName] = TaskName.ROUTE_FEEDBACK
    message_type: Literal["owner_changed"] = "owner_changed"
    new_owner_id: str | None


class RereadMessage(ChangeMessage):
    """A gap event: Salesforce could not send the change, so re-read these records by id.

    One message covers every record id of the gap event (they are read in one query);
    record_id is the first of them.
    """

    task_name: ClassVar[TaskName] = TaskName.REREAD
    message_type: Literal["reread"] = "reread"
    record_ids: list[str] = Field(min_length=1)


class ReconcileMessage(QueueMessage):
    """Changes to an entity were lost: re-read its records modified between since and until."""

    task_name: ClassVar[TaskName] = TaskName.RECONCILE
    message_type: Literal["reconcile"] = "reconcile"
    entity: str = Field(min_length=1)
    since: AwareDatetime
    until: AwareDatetime
    reason: ReconcileReason
    replay_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]*$",
        description="The overflow event's replay id, or the checkpoint that expired, in hex.",
    )

    @model_validator(mode="after")
    def _window_is_ordered(self) -> ReconcileMessage:
        if self.since > self.until:
            raise ValueError(
                f"since {self.since.isoformat()} is after until {self.until.isoformat()}"
            )
        return self


AnyQueueMessage = Annotated[
    LeadCreatedMessage
    | ResponseActivityMessage
    | OwnerChangedMessage
    | RereadMessage
    | ReconcileMessage,
    Field(discriminator="message_type"),
]
QUEUE_MESSAGE_ADAPTER: TypeAdapter[AnyQueueMessage] = TypeAdapter(AnyQueueMessage)


def parse_queue_message(data: str | bytes) -> AnyQueueMessage:
    """Read any queue message from its JSON, choosing the model by message_type."""
    return QUEUE_MESSAGE_ADAPTER.validate_json(data)
