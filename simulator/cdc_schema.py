"""Change event Avro schemas, derived from the field catalogue: one `<Object>ChangeEvent` per object.

Shape (as Salesforce serves it over the Pub/Sub API): a record in namespace com.sforce.eventbus whose
first field is the required ChangeEventHeader record, followed by every field of the object as a
`["null", T]` union with default null. Compound fields (Name, Address) are nested `["null", record]`
unions standing where their first component stood; their components are not repeated at top level.
DateTime is a long of epoch milliseconds and Date an int of days since the epoch, each with a
`<Field>:DateTime` / `<Field>:Date` doc; references carry `<Relationship>:EntityId`. The record Id
is not a body field: it travels in the header's recordIds.

A schema id is the fingerprint of the schema JSON served by GetSchema: the URL-safe base64 of the
first 16 bytes of its SHA-256, without padding (22 characters).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastavro

from simulator.schema import CATALOGUE, FieldSpec, SObjectSpec

NAMESPACE = "com.sforce.eventbus"
HEADER_FIELD = "ChangeEventHeader"
CDC_ENTITIES: tuple[str, ...] = ("Lead", "Task", "EmailMessage")
ALL_CHANGES_TOPIC = "/data/ChangeEvents"
CHANGE_TYPES: tuple[str, ...] = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
)
_AVRO_TYPES: Mapping[str, str] = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "int",
    "datetime": "long",
}
_STRING_ARRAY: dict[str, Any] = {"type": "array", "items": "string"}


@dataclass(frozen=True)
class Component:
    """One part of a compound field: its name inside the compound and the flat field it stores."""

    name: str
    spec: FieldSpec


@dataclass(frozen=True)
class TopField:
    """A top-level body field: a plain field (spec) or a compound of components."""

    name: str
    spec: FieldSpec | None
    components: tuple[Component, ...] = ()


@dataclass(frozen=True, eq=False)
class ChangeEventSchema:
    """One object's change event schema: the layout, the JSON text, its id and fastavro's form."""

    entity: str
    fields: tuple[TopField, ...]
    schema: dict[str, Any] = field(repr=False)
    schema_json: str = field(repr=False)
    schema_id: str
    parsed: Any = field(repr=False)
    locations: Mapping[str, tuple[int, int | None]] = field(repr=False)

    @property
    def topic(self) -> str:
        """The object's own channel, e.g. /data/LeadChangeEvent."""
        return topic_for(self.entity)

    def locate(self, flat_name: str) -> tuple[int, int | None] | None:
        """A REST field name's schema position (0 is the header) and its compound child index."""
        return self.locations.get(flat_name)


def topic_for(entity: str) -> str:
    """The standard object's change event channel."""
    return f"/data/{entity}ChangeEvent"


def fingerprint(schema_json: str) -> str:
    """The schema id of a schema's JSON text (22 URL-safe base64 characters)."""
    digest = hashlib.sha256(schema_json.encode("utf-8")).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _compound_part(compound: str, spec: FieldSpec) -> str:
    # BillingCountry is Country inside BillingAddress; Name and Address parts keep their names.
    prefix = compound[: -len("Address")] if compound.endswith("Address") else ""
    return spec.name[len(prefix) :] if prefix and spec.name.startswith(prefix) else spec.name


def _layout(spec: SObjectSpec) -> tuple[TopField, ...]:
    tops: list[TopField] = []
    compounds: dict[str, list[Component]] = {}
    for item in spec.fields:
        if not item.in_change_events or item.type == "id":
            continue
        if item.compound is None:
            tops.append(TopField(item.name, item))
            continue
        if item.compound not in compounds:
            compounds[item.compound] = []
            tops.append(TopField(item.compound, None))
        compounds[item.compound].append(Component(_compound_part(item.compound, item), item))
    return tuple(
        TopField(top.name, None, tuple(compounds[top.name])) if top.spec is None else top
        for top in tops
    )


def _doc(spec: FieldSpec) -> str | None:
    if spec.type == "datetime":
        return f"{spec.name}:DateTime"
    if spec.type == "date":
        return f"{spec.name}:Date"
    if spec.type == "reference":
        relationship = spec.name[:-2] if spec.name.endswith("Id") else spec.name
        return f"{relationship}:EntityId"
    return None


def _nullable(name: str, avro_type: Any, doc: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "type": ["null", avro_type], "default": None}
    if doc:
        entry["doc"] = doc
    return entry


def _plain(spec: FieldSpec, name: str | None = None) -> dict[str, Any]:
    return _nullable(name or spec.name, _AVRO_TYPES.get(spec.type, "string"), _doc(spec))


def _header() -> dict[str, Any]:
    return {
        "name": HEADER_FIELD,
        "type": {
            "type": "record",
            "name": HEADER_FIELD,
            "namespace": NAMESPACE,
            "fields": [
                {"name": "entityName", "type": "string"},
                {"name": "recordIds", "type": _STRING_ARRAY},
                {
                    "name": "changeType",
                    "type": {
                        "type": "enum",
                        "name": "ChangeType",
                        "namespace": NAMESPACE,
                        "symbols": list(CHANGE_TYPES),
                    },
                },
                {"name": "changeOrigin", "type": "string"},
                {"name": "transactionKey", "type": "string"},
                {"name": "sequenceNumber", "type": "int"},
                {"name": "commitTimestamp", "type": "long"},
                {"name": "commitNumber", "type": "long"},
                {"name": "commitUser", "type": "string"},
                {"name": "nulledFields", "type": _STRING_ARRAY},
                {"name": "diffFields", "type": _STRING_ARRAY},
                {"name": "changedFields", "type": _STRING_ARRAY},
            ],
        },
    }


def _compound(top: TopField) -> dict[str, Any]:
    type_name = "Address" if top.name.endswith("Address") else top.name
    record = {
        "type": "record",
        "name": type_name,
        "namespace": NAMESPACE,
        "fields": [_plain(part.spec, part.name) for part in top.components],
    }
    return _nullable(top.name, record)


def _locations(fields: tuple[TopField, ...]) -> dict[str, tuple[int, int | None]]:
    found: dict[str, tuple[int, int | None]] = {}
    for position, top in enumerate(fields, start=1):
        if top.spec is not None:
            found[top.spec.name] = (position, None)
        for index, part in enumerate(top.components):
            found[part.spec.name] = (position, index)
    return found


@cache
def change_event_schema(entity: str) -> ChangeEventSchema:
    """The change event schema of a streamed object (Lead, Task, EmailMessage)."""
    if entity not in CDC_ENTITIES:
        raise KeyError(f"{entity} is not selected for Change Data Capture")
    fields = _layout(CATALOGUE[entity])
    schema: dict[str, Any] = {
        "type": "record",
        "name": f"{entity}ChangeEvent",
        "namespace": NAMESPACE,
        "fields": [
            _header(),
            *(_plain(top.spec) if top.spec else _compound(top) for top in fields),
        ],
    }
    schema_json = json.dumps(schema, separators=(",", ":"))
    return ChangeEventSchema(
        entity=entity,
        fields=fields,
        schema=schema,
        schema_json=schema_json,
        schema_id=fingerprint(schema_json),
        parsed=fastavro.parse_schema(schema),
        locations=_locations(fields),
    )


def schema_by_id(schema_id: str) -> ChangeEventSchema | None:
    """The streamed object's schema with this id, if any."""
    for entity in CDC_ENTITIES:
        candidate = change_event_schema(entity)
        if candidate.schema_id == schema_id:
            return candidate
    return None


def topic_entities(topic: str) -> tuple[str, ...] | None:
    """The objects a channel carries (all of them on /data/ChangeEvents), or None if unknown."""
    if topic == ALL_CHANGES_TOPIC:
        return CDC_ENTITIES
    for entity in CDC_ENTITIES:
        if topic == topic_for(entity):
            return (entity,)
    return None
