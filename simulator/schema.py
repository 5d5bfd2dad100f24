"""The field catalogue: every sobject the simulator serves, its fields, types, lengths and picklists.

It is the single source for describe, the SOQL schemas, write validation, storage columns and
(later) the change event schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.ids import KEY_PREFIXES

FieldType = Literal[
    "id",
    "reference",
    "string",
    "textarea",
    "picklist",
    "email",
    "phone",
    "url",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
]
TEXT_TYPES: frozenset[str] = frozenset(
    {"id", "reference", "string", "textarea", "picklist", "email", "phone", "url"}
)
NUMBER_TYPES: frozenset[str] = frozenset({"int", "double", "currency", "percent"})

# The server owns these; a client writing one gets INVALID_FIELD_FOR_INSERT_UPDATE.
SYSTEM_FIELDS: tuple[str, ...] = (
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
    "IsDeleted",
)


@dataclass(frozen=True)
class FieldSpec:
    """One field as describe reports it and as the server enforces it."""

    name: str
    type: FieldType
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    required: bool = False
    default: object = None
    compound: str | None = None
    derived: bool = False
    precision: int = 0
    scale: int = 0
    in_change_events: bool = True

    @property
    def writable(self) -> bool:
        """Whether a client may set the field at all."""
        return self.createable or self.updateable


@dataclass(frozen=True)
class SObjectSpec:
    """One sobject: its name, key prefix and fields in describe order."""

    name: str
    label: str
    label_plural: str
    fields: tuple[FieldSpec, ...]
    by_lower: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    @property
    def key_prefix(self) -> str:
        """The three-character id prefix of this sobject."""
        return KEY_PREFIXES[self.name]

    def field(self, name: str) -> FieldSpec | None:
        """A field by name; Salesforce field names are case-insensitive."""
        return self.by_lower.get(name.lower())

    @property
    def stored_fields(self) -> tuple[FieldSpec, ...]:
        """Fields that are columns of the table (every field in this catalogue is stored)."""
        return self.fields


def _text(name: str, length: int = 255, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="string", length=length, **kw)


def _ref(name: str, *targets: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="reference", length=18, reference_to=targets, **kw)


def _custom(name: str, type_: FieldType, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=type_, custom=True, **kw)


def _system(owner_targets: tuple[str, ...] = ("User",)) -> tuple[FieldSpec, ...]:
    locked: dict[str, Any] = {"createable": False, "updateable": False}
    return (
        FieldSpec("CreatedDate", "datetime", nillable=False, **locked),
        _ref("CreatedById", *owner_targets, nillable=False, **locked),
        FieldSpec("LastModifiedDate", "datetime", nillable=False, **locked),
        _ref("LastModifiedById", *owner_targets, nillable=False, **locked),
        FieldSpec("SystemModstamp", "datetime", nillable=False, in_change_events=False, **locked),
        FieldSpec(
            "IsDeleted", "boolean", nillable=False, default=False, in_change_events=False, **locked
        ),
    )


def _id() -> FieldSpec:
    return FieldSpec("Id", "id", length=18, nillable=False, createable=False, updateable=False)


_LEAD_STATUS = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
_INDUSTRIES = (
    "Agriculture",
    "Banking",
    "Biotechnology",
    "Communications",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Finance",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Other",
)
_LEAD_SOURCES = (
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Trade Show",
    "Webinar",
    "Other",
)
_PRODUCTS = ("Platform", "Analytics", "Integrations", "Support", "Training", "Other")
_TASK_STATUS = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TIME_ZONES = (
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)

LEAD = SObjectSpec(
    "Lead",
    "Lead",
    "Leads",
    (
        _id(),
        _text("FirstName", 40, compound="Name"),
        _text("LastName", 80, nillable=False, required=True, compound="Name"),
        _text(
            "Name", 121, createable=False, updateable=False, derived=True, in_change_events=False
        ),
        _text("Company", 255, nillable=False, required=True),
        _text("Title", 128),
        FieldSpec("Email", "email", length=80),
        FieldSpec("Phone", "phone", length=40),
        FieldSpec("Website", "url", length=255),
        FieldSpec("Street", "textarea", length=255, compound="Address"),
        _text("City", 40, compound="Address"),
        _text("State", 80, compound="Address"),
        _text("PostalCode", 20, compound="Address"),
        _text("Country", 80, compound="Address"),
        FieldSpec("NumberOfEmployees", "int", precision=8),
        FieldSpec("Industry", "picklist", length=255, picklist=_INDUSTRIES),
        FieldSpec("LeadSource", "picklist", length=255, picklist=_LEAD_SOURCES),
        FieldSpec(
            "Status",
            "picklist",
            length=255,
            picklist=_LEAD_STATUS,
            nillable=False,
            default="Open - Not Contacted",
        ),
        FieldSpec("Rating", "picklist", length=255, picklist=("Hot", "Warm", "Cold")),
        FieldSpec("Description", "textarea", length=32000),
        _ref("OwnerId", "Group", "User", nillable=False),
        FieldSpec("IsConverted", "boolean", nillable=False, default=False, updateable=False),
        FieldSpec("HasOptedOutOfEmail", "boolean", nillable=False, default=False),
        FieldSpec("EmailBouncedDate", "datetime"),
        _text("EmailBouncedReason", 255),
        _custom("Product_Interest__c", "picklist", length=255, picklist=_PRODUCTS),
        _custom("First_Response_At__c", "datetime"),
        _custom("First_Response_User__c", "string", length=255),
        _custom("First_Response_Source__c", "string", length=255),
        _custom("Time_to_First_Response__c", "double", precision=18, scale=2),
        _custom("Business_Minutes_to_First_Response__c", "double", precision=18, scale=2),
        _custom("Routing_Reason__c", "string", length=255),
        _custom("Routing_Confidence__c", "double", precision=5, scale=4),
        _custom("Suggested_Template__c", "string", length=255),
        _custom("Owner_Assigned_At__c", "datetime"),
        *_system(),
    ),
)

TASK = SObjectSpec(
    "Task",
    "Task",
    "Tasks",
    (
        _id(),
        _ref("WhoId", "Contact", "Lead"),
        _ref("WhatId", "Account"),
        _text("Subject", 255),
        FieldSpec(
            "Status",
            "picklist",
            length=255,
            picklist=_TASK_STATUS,
            nillable=False,
            default="Not Started",
        ),
        FieldSpec("Type", "picklist", length=255, picklist=("Call", "Email", "Meeting", "Other")),
        FieldSpec(
            "Priority",
            "picklist",
            length=255,
            picklist=("High", "Normal", "Low"),
            nillable=False,
            default="Normal",
        ),
        _ref("OwnerId", "Group", "User", nillable=False),
        FieldSpec("ActivityDate", "date"),
        FieldSpec("CompletedDateTime", "datetime", createable=False, updateable=False),
        FieldSpec(
            "IsClosed",
            "boolean",
            nillable=False,
            default=False,
            createable=False,
            updateable=False,
            derived=True,
        ),
        FieldSpec("Description", "textarea", length=32000),
        *_system(),
    ),
)

EMAIL_MESSAGE = SObjectSpec(
    "EmailMessage",
    "Email Message",
    "Email Messages",
    (
        _id(),
        _ref("RelatedToId", "Account", "Contact", "Lead"),
        _ref("ParentId", "Case"),
        _text("Subject", 3000),
        FieldSpec("TextBody", "textarea", length=131072),
        FieldSpec("FromAddress", "email", length=1000),
        FieldSpec("ToAddress", "string", length=4000),
        FieldSpec("Incoming", "boolean", nillable=False, default=False),
        FieldSpec("MessageDate", "datetime"),
        FieldSpec(
            "Status",
            "picklist",
            length=40,
            picklist=("0", "1", "2", "3", "4", "5"),
            nillable=False,
            default="0",
        ),
        *_system(),
    ),
)

ACCOUNT = SObjectSpec(
    "Account",
    "Account",
    "Accounts",
    (
        _id(),
        _text("Name", 255, nillable=False, required=True),
        FieldSpec("Website", "url", length=255),
        _ref("OwnerId", "User", nillable=False),
        FieldSpec("Industry", "picklist", length=255, picklist=_INDUSTRIES),
        FieldSpec("NumberOfEmployees", "int", precision=8),
        _text("BillingCountry", 80, compound="BillingAddress"),
        *_system(),
    ),
)

CONTACT = SObjectSpec(
    "Contact",
    "Contact",
    "Contacts",
    (
        _id(),
        _text("FirstName", 40, compound="Name"),
        _text("LastName", 80, nillable=False, required=True, compound="Name"),
        _text(
            "Name", 121, createable=False, updateable=False, derived=True, in_change_events=False
        ),
        FieldSpec("Email", "email", length=80),
        _ref("AccountId", "Account"),
        _ref("OwnerId", "User", nillable=False),
        *_system(),
    ),
)

USER = SObjectSpec(
    "User",
    "User",
    "Users",
    (
        _id(),
        _text("Username", 80, nillable=False, required=True),
        _text("FirstName", 40, compound="Name"),
        _text("LastName", 80, nillable=False, required=True, compound="Name"),
        _text(
            "Name", 121, createable=False, updateable=False, derived=True, in_change_events=False
        ),
        FieldSpec("Email", "email", length=128, nillable=False, required=True),
        FieldSpec("IsActive", "boolean", nillable=False, default=True),
        FieldSpec(
            "TimeZoneSidKey",
            "picklist",
            length=40,
            picklist=TIME_ZONES,
            nillable=False,
            default="America/Los_Angeles",
        ),
        _ref("UserRoleId", "UserRole"),
        *_system(),
    ),
)

GROUP = SObjectSpec(
    "Group",
    "Group",
    "Groups",
    (
        _id(),
        _text("Name", 40, nillable=False, required=True),
        _text("DeveloperName", 80),
        FieldSpec(
            "Type",
            "picklist",
            length=40,
            picklist=("Queue", "Regular", "Role"),
            nillable=False,
            default="Regular",
        ),
        *_system(),
    ),
)

CATALOGUE: dict[str, SObjectSpec] = {
    spec.name: spec for spec in (LEAD, TASK, EMAIL_MESSAGE, ACCOUNT, CONTACT, USER, GROUP)
}
_BY_LOWER = {name.lower(): spec for name, spec in CATALOGUE.items()}
_BY_PREFIX = {spec.key_prefix: spec for spec in CATALOGUE.values()}


def sobject(name: str) -> SObjectSpec | None:
    """An sobject by name, case-insensitively, as the REST paths accept it."""
    return _BY_LOWER.get(name.lower())


def sobject_for_id(record_id: str) -> SObjectSpec | None:
    """The sobject whose key prefix starts the id."""
    return _BY_PREFIX.get(record_id[:3])


def soql_schemas() -> dict[str, dict[str, FieldType]]:
    """Per-sobject field types in the shape the SOQL planner takes."""
    return {name: {f.name: f.type for f in spec.fields} for name, spec in CATALOGUE.items()}
