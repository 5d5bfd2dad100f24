"""Change event bitmap fields (changedFields, nulledFields, diffFields) expanded to field names.

Pub/Sub sends these header arrays as hex bitmaps over positions in the event's Avro schema:

- an entry ``0x<hex>`` is one unsigned big-endian number whose bit i (least significant bit = 0)
  selects the top-level field at position i (position 0 is ChangeEventHeader);
- an entry ``<p>-0x<hex>`` selects, the same way, child fields of the compound field (Name,
  Address...) at top-level position p, whose type is a record or a union holding one; a child
  is named ``Parent.Child``;
- any other entry is already a field name and is kept as it is.

Salesforce sends upper-case, even-length hex; lower case and odd lengths are accepted too.
A malformed entry, or a bit beyond the schema's fields, raises ValueError: the event does not
match its schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOP = re.compile(r"0[xX]([0-9a-fA-F]+)")
_NESTED = re.compile(r"(\d+)-0[xX]([0-9a-fA-F]+)")
_NAMED_KINDS = frozenset({"record", "enum", "fixed"})


@dataclass(frozen=True, slots=True)
class FieldSlot:
    """One schema field at its position: name, Avro type without its null branch, doc, children."""

    name: str
    type: Any
    doc: str
    children: tuple[FieldSlot, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemaLayout:
    """The fields of a change event schema in position order, with each compound's children."""

    fields: tuple[FieldSlot, ...]

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> SchemaLayout:
        """Lay out a record schema (the JSON-parsed dict), resolving references to named types."""
        if schema.get("type") != "record" or not isinstance(schema.get("fields"), list):
            raise ValueError("a change event schema must be an Avro record with fields")
        named = _named_types(schema, schema.get("namespace", ""))
        return cls(_slots(schema, named, depth=0))

    def expand(self, entries: Sequence[str]) -> list[str]:
        """Field names selected by bitmap entries, in entry order, then position order."""
        names: dict[str, None] = {}
        for entry in entries:
            nested = _NESTED.fullmatch(entry)
            if nested is not None:
                position = int(nested.group(1))
                parent = self._compound(position, entry)
                for bit in _bits(nested.group(2)):
                    child = _slot_at(parent.children, bit, f"{parent.name} in {entry!r}")
                    names[f"{parent.name}.{child.name}"] = None
                continue
            top = _TOP.fullmatch(entry)
            if top is not None:
                for bit in _bits(top.group(1)):
                    names[_slot_at(self.fields, bit, f"the schema in {entry!r}").name] = None
                continue
            if entry[:2].lower() == "0x" or re.match(r"\d+-0[xX]", entry):
                raise ValueError(f"malformed bitmap entry {entry!r}")
            names[entry] = None
        return list(names)

    def _compound(self, position: int, entry: str) -> FieldSlot:
        slot = _slot_at(self.fields, position, f"the schema in {entry!r}")
        if not slot.children:
            raise ValueError(f"{entry!r} addresses {slot.name}, which is not a compound field")
        return slot


def expand_bitmap_fields(entries: Sequence[str], schema: Mapping[str, Any]) -> list[str]:
    """Field names selected by a changedFields/nulledFields/diffFields array under a schema."""
    return SchemaLayout.from_schema(schema).expand(entries)


def _bits(hex_digits: str) -> Iterator[int]:
    """Positions of the set bits of a hex number, least significant first."""
    number = int(hex_digits, 16)
    position = 0
    while number:
        if number & 1:
            yield position
        number >>= 1
        position += 1


def _slot_at(slots: tuple[FieldSlot, ...], position: int, where: str) -> FieldSlot:
    if position >= len(slots):
        raise ValueError(f"bit {position} is set but {where} has {len(slots)} fields")
    return slots[position]


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _named_types(schema: Any, namespace: str) -> dict[str, Mapping[str, Any]]:
    """Every record, enum and fixed type defined in a schema, by full and by short name."""
    found: dict[str, Mapping[str, Any]] = {}
    if isinstance(schema, list):
        for branch in schema:
            found.update(_named_types(branch, namespace))
    elif isinstance(schema, Mapping):
        kind = schema.get("type")
        if kind in _NAMED_KINDS and isinstance(schema.get("name"), str):
            full = _full_name(schema["name"], schema.get("namespace", namespace))
            found[full] = schema
            found[full.rsplit(".", 1)[-1]] = schema
            namespace = full.rpartition(".")[0]
        if kind == "record":
            for field in schema.get("fields", []):
                found.update(_named_types(field.get("type"), namespace))
        elif kind in ("array", "map"):
            found.update(_named_types(schema.get("items", schema.get("values")), namespace))
        elif isinstance(kind, Mapping | list):
            found.update(_named_types(kind, namespace))
    return found


def _resolve(avro_type: Any, named: Mapping[str, Mapping[str, Any]]) -> Any:
    """A type with references to named types replaced by their definitions."""
    if isinstance(avro_type, str) and avro_type in named:
        return named[avro_type]
    if isinstance(avro_type, Mapping) and isinstance(avro_type.get("type"), str | list | Mapping):
        inner = avro_type["type"]
        if isinstance(inner, str) and inner in named:
            return named[inner]
    return avro_type


def _without_null(avro_type: Any, named: Mapping[str, Mapping[str, Any]]) -> Any:
    """The type a nullable field holds: a union's record branch, else its first non-null branch."""
    if not isinstance(avro_type, list):
        return _resolve(avro_type, named)
    branches = [_resolve(b, named) for b in avro_type if b != "null"]
    for branch in branches:
        if isinstance(branch, Mapping) and branch.get("type") == "record":
            return branch
    return branches[0] if branches else "null"


def _slots(
    record: Mapping[str, Any], named: Mapping[str, Mapping[str, Any]], depth: int
) -> tuple[FieldSlot, ...]:
    slots = []
    for field in record["fields"]:
        avro_type = _without_null(field["type"], named)
        children: tuple[FieldSlot, ...] = ()
        # Compound fields nest one level; deeper records are not addressed by bitmaps.
        if depth == 0 and isinstance(avro_type, Mapping) and avro_type.get("type") == "record":
            children = _slots(avro_type, named, depth + 1)
        slots.append(FieldSlot(field["name"], avro_type, str(field.get("doc", "")), children))
    return tuple(slots)
