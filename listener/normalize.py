"""Turn a decoded change event into one NormalizedChange per record id, in REST field names.

What normalizing does to an event (the queue message contract in shared/messages.py relies on
it):

- bitmap header fields (changedFields, nulledFields, diffFields) become field names;
- compound fields are flattened to REST names: Name.FirstName -> FirstName, Address.City -> City,
  BillingAddress.City -> BillingCity, Location__c.Latitude -> Location__Latitude__s;
- the field snapshot holds every field for CREATE and UNDELETE, and otherwise only the fields
  that changed or carry a value, because Pub/Sub sends unchanged fields as null;
- date and date-time values become ISO-8601 strings. Pub/Sub sends them as epoch numbers, so a
  field is converted when its Avro type has a date or timestamp logical type, or else when its
  ``doc`` names a type (``CreatedDate:DateTime`` -> date-time, ``ActivityDate:Date`` -> date;
  any other named type is left alone), or else, with no type in ``doc``, when its name ends in
  Date, DateTime, At__c, Date__c, DateTime__c or stamp (SystemModstamp) and its Avro type is
  long (epoch milliseconds -> date-time) or int (days since the epoch -> date).
  Date-times are UTC with milliseconds, ``2024-05-01T09:30:00.000Z``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError
from pydantic.alias_generators import to_camel

from listener.bitmaps import FieldSlot
from listener.decode import HEADER_FIELD, DecodeError, EventSchema
from shared.messages import event_id

FULL_SNAPSHOT_TYPES = frozenset({"CREATE", "UNDELETE"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEMPORAL_SUFFIXES = ("Date", "DateTime", "At__c", "Date__c", "DateTime__c")
_OPTION_SEPARATORS = re.compile(r"[;,]")

TemporalKind = Literal["datetime", "date"]


class ChangeEventHeader(BaseModel):
    """The ChangeEventHeader of a decoded event; Salesforce may add keys, so extras are ignored."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, frozen=True)

    entity_name: str
    record_ids: list[str]
    change_type: str
    change_origin: str | None = None
    transaction_key: str | None = None
    sequence_number: int = 0
    commit_timestamp: int
    commit_number: int = 0
    commit_user: str | None = None
    nulled_fields: list[str] = []
    diff_fields: list[str] = []
    changed_fields: list[str] = []


@dataclass(frozen=True, slots=True)
class NormalizedChange:
    """One record of one change event, with names decoded and values made JSON."""

    topic: str
    replay_id: bytes
    index: int
    record_id: str | None
    record_ids: tuple[str, ...]
    entity: str
    change_type: str
    change_origin: str
    origin_client: str | None
    transaction_key: str
    sequence_number: int
    commit_timestamp: datetime
    commit_number: int
    commit_user: str
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    diff_fields: tuple[str, ...]
    fields: Mapping[str, JsonValue]

    @property
    def event_id(self) -> str:
        """Stable across redeliveries: topic, replay id and record index."""
        return event_id(self.topic, self.replay_id, self.index)

    @property
    def replay_id_hex(self) -> str:
        """The replay id as lower-case hex, as queue messages carry it."""
        return self.replay_id.hex()


def normalize(
    event: Mapping[str, Any], schema: EventSchema, *, topic: str, replay_id: bytes
) -> list[NormalizedChange]:
    """One change per record id (GAP_OVERFLOW, which names none, gives one with record_id None)."""
    header = _header(event)
    shape = _shape(schema)
    try:
        changed = schema.layout.expand(header.changed_fields)
        nulled = schema.layout.expand(header.nulled_fields)
        diff = schema.layout.expand(header.diff_fields)
    except ValueError as exc:
        raise DecodeError(f"bitmap does not match schema {schema.schema_id!r}: {exc}") from exc
    snapshot = _snapshot(event, shape, header.change_type, changed)
    first = NormalizedChange(
        topic=topic,
        replay_id=replay_id,
        index=0,
        record_id=None,
        record_ids=tuple(header.record_ids),
        entity=header.entity_name,
        change_type=header.change_type,
        change_origin=header.change_origin or "",
        origin_client=origin_client(header.change_origin or ""),
        transaction_key=header.transaction_key or "",
        sequence_number=header.sequence_number,
        commit_timestamp=_datetime_from_ms(header.commit_timestamp, "commitTimestamp"),
        commit_number=header.commit_number,
        commit_user=header.commit_user or "",
        changed_fields=_rest_names(changed),
        nulled_fields=_rest_names(nulled),
        diff_fields=_rest_names(diff),
        fields={},
    )
    if not header.record_ids:
        if header.change_type != "GAP_OVERFLOW":
            raise DecodeError(f"{header.change_type} event on {topic} names no record ids")
        return [first]
    return [
        replace(first, index=i, record_id=record_id, fields=dict(snapshot))
        for i, record_id in enumerate(header.record_ids)
    ]


def origin_client(change_origin: str) -> str | None:
    """The client= value of a changeOrigin such as ``com/salesforce/api/rest/62.0;client=x``."""
    for option in _OPTION_SEPARATORS.split(change_origin):
        key, separator, value = option.partition("=")
        if separator and key.strip().lower() == "client":
            return value.strip()
    return None


def rest_name(parent: str, child: str) -> str:
    """The REST name of a compound field's child (BillingAddress + City -> BillingCity)."""
    if parent.endswith("Address"):
        return parent.removesuffix("Address") + child
    if parent.endswith("__c"):
        return f"{parent.removesuffix('__c')}__{child}__s"
    return child


@dataclass(frozen=True, slots=True)
class _Leaf:
    """Where one REST field sits in the event and how its value is read."""

    top: str
    child: str | None
    rest_name: str
    bitmap_name: str
    kind: TemporalKind | None
    avro_base: str


def _header(event: Mapping[str, Any]) -> ChangeEventHeader:
    raw = event.get(HEADER_FIELD)
    if not isinstance(raw, Mapping):
        raise DecodeError(f"event has no {HEADER_FIELD}")
    try:
        return ChangeEventHeader.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise DecodeError(f"{HEADER_FIELD} is malformed: {problems}") from exc


@lru_cache(maxsize=256)
def _shape(schema: EventSchema) -> tuple[_Leaf, ...]:
    """The REST fields of a schema (header excluded), computed once per schema."""
    leaves = []
    for slot in schema.layout.fields:
        if slot.name == HEADER_FIELD:
            continue
        if slot.children:
            for child in slot.children:
                leaves.append(
                    _leaf(
                        child,
                        top=slot.name,
                        child=child.name,
                        name=rest_name(slot.name, child.name),
                    )
                )
        else:
            leaves.append(_leaf(slot, top=slot.name, child=None, name=slot.name))
    return tuple(leaves)


def _leaf(slot: FieldSlot, *, top: str, child: str | None, name: str) -> _Leaf:
    base = _avro_base(slot.type)
    bitmap_name = top if child is None else f"{top}.{child}"
    return _Leaf(top, child, name, bitmap_name, _temporal_kind(slot, base), base)


def _avro_base(avro_type: Any) -> str:
    if isinstance(avro_type, str):
        return avro_type
    if isinstance(avro_type, Mapping) and isinstance(avro_type.get("type"), str):
        return str(avro_type["type"])
    return ""


def _temporal_kind(slot: FieldSlot, base: str) -> TemporalKind | None:
    name, separator, doc_type = slot.doc.rpartition(":")
    if separator and name and doc_type:
        declared = doc_type.strip().lower()
        if declared == "datetime":
            return "datetime"
        return "date" if declared == "date" else None
    looks_temporal = slot.name.endswith(_TEMPORAL_SUFFIXES) or slot.name.lower().endswith("stamp")
    if looks_temporal and base == "long":
        return "datetime"
    if looks_temporal and base == "int":
        return "date"
    return None


def _snapshot(
    event: Mapping[str, Any], shape: Sequence[_Leaf], change_type: str, changed: Sequence[str]
) -> dict[str, JsonValue]:
    full = change_type in FULL_SNAPSHOT_TYPES
    changed_set = set(changed)
    # A compound marked changed without child entries counts as all of its children changed.
    parents_with_children = {name.partition(".")[0] for name in changed if "." in name}
    snapshot: dict[str, JsonValue] = {}
    for leaf in shape:
        top_value = event.get(leaf.top)
        if leaf.child is None:
            value = top_value
        else:
            value = top_value.get(leaf.child) if isinstance(top_value, Mapping) else None
        wanted = (
            full
            or value is not None
            or leaf.bitmap_name in changed_set
            or (leaf.child is not None and leaf.top in changed_set
                and leaf.top not in parents_with_children)
        )  # fmt: skip
        if wanted:
            snapshot[leaf.rest_name] = _json_value(value, leaf)
    return snapshot


def _json_value(value: Any, leaf: _Leaf) -> JsonValue:
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if leaf.kind == "datetime":
            return _iso_datetime(_datetime_from_ms(value, leaf.rest_name))
        if leaf.kind == "date":
            if leaf.avro_base == "int":
                return _from_epoch(leaf.rest_name, days=value).date().isoformat()
            return _datetime_from_ms(value, leaf.rest_name).date().isoformat()
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _iso_datetime(aware.astimezone(UTC))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_json_value(item, leaf) for item in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, leaf) for k, v in value.items()}
    raise DecodeError(
        f"field {leaf.rest_name} has a value of unexpected type {type(value).__name__}"
    )


def _from_epoch(field_name: str, **delta: int) -> datetime:
    try:
        return _EPOCH + timedelta(**delta)
    except OverflowError as exc:
        raise DecodeError(f"field {field_name} holds an impossible date {delta}") from exc


def _datetime_from_ms(milliseconds: int, field_name: str) -> datetime:
    return _from_epoch(field_name, milliseconds=milliseconds)


def _iso_datetime(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rest_names(names: Sequence[str]) -> tuple[str, ...]:
    flat: dict[str, None] = {}
    for name in names:
        parent, dot, child = name.partition(".")
        flat[rest_name(parent, child) if dot else name] = None
    return tuple(flat)
