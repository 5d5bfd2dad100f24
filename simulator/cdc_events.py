"""Change events built from change log entries: the Avro body for Pub/Sub, the JSON for CometD.

What each change type carries (Salesforce's rules for the two APIs differ):

- Pub/Sub (Avro): CREATE and UNDELETE carry every field; UPDATE carries the changed fields and
  sends every other field as null; DELETE and GAP_* carry nulls only. changedFields, nulledFields
  and diffFields are bitmaps over schema positions (see `bitmap`); diffFields is always empty
  because the simulator sends whole values, never diffs of long text.
- CometD (JSON): CREATE and UNDELETE carry the non-empty fields; UPDATE carries the changed ones
  (a nulled field as null); DELETE and GAP_* carry none. The header has no nulledFields or
  diffFields and its changedFields are names (`Name.LastName` for a compound's part).
  Date-times are ISO strings in UTC.

A GAP_OVERFLOW names no records: its recordIds are empty, as the CDC overflow docs describe.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, date
from typing import Any

import fastavro

from simulator.cdc_schema import ChangeEventSchema, TopField, change_event_schema
from simulator.changelog import ChangeEntry
from simulator.fieldvalues import parse_datetime
from simulator.schema import FieldSpec

# commitNumber is a database system change number; the log's commit counter is offset into the
# magnitude Salesforce's numbers have so clients never treat it as a small sequence.
COMMIT_NUMBER_BASE = 10_953_592_000_000
FULL_BODY_TYPES = frozenset({"CREATE", "UNDELETE"})
_EPOCH_DAY = date(1970, 1, 1)


def hex_bitmap(bits: int) -> str:
    """`0x` + upper-case hex, left-padded to an even number of digits."""
    digits = format(bits, "X")
    return "0x" + ("0" + digits if len(digits) % 2 else digits)


def bitmap(schema: ChangeEventSchema, names: Iterable[str]) -> list[str]:
    """Encode REST field names as Pub/Sub bitmap entries.

    Element 0 selects top-level positions (0 is the header); `<p>-0x..` entries select parts of
    the compound at position p, whose own top-level bit is set as well. No names, no entries.
    """
    top = 0
    parts: dict[int, int] = {}
    for name in names:
        location = schema.locate(name)
        if location is None:
            continue
        position, child = location
        top |= 1 << position
        if child is not None:
            parts[position] = parts.get(position, 0) | 1 << child
    if not top:
        return []
    return [hex_bitmap(top)] + [f"{p}-{hex_bitmap(parts[p])}" for p in sorted(parts)]


def _avro_value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.type == "datetime":
        return int(parse_datetime(str(value)).timestamp() * 1000)
    if spec.type == "date":
        return (date.fromisoformat(str(value)[:10]) - _EPOCH_DAY).days
    if spec.type == "boolean":
        return bool(value)
    if spec.type == "int":
        return int(value)
    if spec.type in ("double", "currency", "percent"):
        return float(value)
    return str(value)


def _json_value(spec: FieldSpec, value: Any) -> Any:
    if value is None or spec.type != "datetime":
        return value
    moment = parse_datetime(str(value)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _body_names(entry: ChangeEntry) -> set[str] | None:
    """The REST names whose values an event carries; None means all of them."""
    if entry.change_type in FULL_BODY_TYPES:
        return None
    if entry.change_type == "UPDATE":
        return set(entry.changed_fields)
    return set()


def record_ids(entry: ChangeEntry) -> list[str]:
    """The header's recordIds (an overflow names none)."""
    return [rid for rid in entry.record_ids if rid]


def _header(entry: ChangeEntry) -> dict[str, Any]:
    return {
        "entityName": entry.entity,
        "recordIds": record_ids(entry),
        "changeType": entry.change_type,
        "changeOrigin": entry.origin,
        "transactionKey": entry.transaction_key,
        "sequenceNumber": entry.sequence_number,
        "commitTimestamp": entry.commit_timestamp,
        "commitNumber": COMMIT_NUMBER_BASE + entry.commit_number,
        "commitUser": entry.commit_user,
    }


def _top_value(top: TopField, entry: ChangeEntry, wanted: set[str] | None) -> Any:
    def carried(spec: FieldSpec) -> Any:
        if wanted is not None and spec.name not in wanted:
            return None
        return _avro_value(spec, entry.values.get(spec.name))

    if top.spec is not None:
        return carried(top.spec)
    parts = {part.name: carried(part.spec) for part in top.components}
    touched = wanted is not None and any(part.spec.name in wanted for part in top.components)
    return parts if touched or any(v is not None for v in parts.values()) else None


def avro_record(entry: ChangeEntry, schema: ChangeEventSchema | None = None) -> dict[str, Any]:
    """The event as the dict fastavro writes with the object's schema."""
    schema = schema or change_event_schema(entry.entity)
    changed = entry.changed_fields if entry.change_type == "UPDATE" else ()
    nulled = entry.nulled_fields if entry.change_type == "UPDATE" else ()
    header = {
        **_header(entry),
        "nulledFields": bitmap(schema, nulled),
        "diffFields": [],
        "changedFields": bitmap(schema, changed),
    }
    wanted = _body_names(entry)
    record: dict[str, Any] = {"ChangeEventHeader": header}
    for top in schema.fields:
        record[top.name] = _top_value(top, entry, wanted)
    return record


def encode_payload(entry: ChangeEntry) -> tuple[str, bytes]:
    """The schema id and the raw Avro binary datum (no container, no framing) of an entry."""
    schema = change_event_schema(entry.entity)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, avro_record(entry, schema))
    return schema.schema_id, buffer.getvalue()


def _cometd_changed_names(schema: ChangeEventSchema, names: Iterable[str]) -> list[str]:
    shown: list[str] = []
    for name in names:
        location = schema.locate(name)
        if location is None:
            continue
        position, child = location
        top = schema.fields[position - 1]
        shown.append(name if child is None else f"{top.name}.{top.components[child].name}")
    return shown


def _shown(spec: FieldSpec, entry: ChangeEntry, wanted: set[str] | None) -> bool:
    if wanted is None:
        return entry.values.get(spec.name) is not None
    return spec.name in wanted


def cometd_payload(entry: ChangeEntry) -> dict[str, Any]:
    """The `payload` of a CometD change event message."""
    schema = change_event_schema(entry.entity)
    changed = entry.changed_fields if entry.change_type == "UPDATE" else ()
    payload: dict[str, Any] = {
        "ChangeEventHeader": {
            **_header(entry),
            "changedFields": _cometd_changed_names(schema, changed),
        }
    }
    wanted = _body_names(entry)
    for top in schema.fields:
        if top.spec is not None:
            if _shown(top.spec, entry, wanted):
                payload[top.name] = _json_value(top.spec, entry.values.get(top.spec.name))
            continue
        parts = {
            part.name: _json_value(part.spec, entry.values.get(part.spec.name))
            for part in top.components
            if _shown(part.spec, entry, wanted)
        }
        if parts:
            payload[top.name] = parts
    return payload
