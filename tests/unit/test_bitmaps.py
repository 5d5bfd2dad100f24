"""Bitmap header fields expand to the field names Salesforce meant, including compound children."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listener.bitmaps import expand_bitmap_fields

HEADER = {
    "name": "ChangeEventHeader",
    "type": {"type": "record", "name": "ChangeEventHeader", "fields": []},
}


def _record(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "com.sforce.eventbus", "fields": fields}


def _nullable(name: str, avro_type: Any = "string") -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None}


NAME_CHILDREN = ["Salutation", "FirstName", "LastName", "MiddleName", "Suffix"]
ADDRESS_CHILDREN = ["Street", "City", "State", "PostalCode", "Country"]


def _documented_schema() -> dict[str, Any]:
    """31 fields with compounds at positions 4 (Name) and 7 (Address), as the docs' example needs."""
    fields: list[dict[str, Any]] = [HEADER]
    for position in range(1, 31):
        if position == 4:
            name_record = _record("Name", [_nullable(c) for c in NAME_CHILDREN])
            fields.append(_nullable("Name", name_record))
        elif position == 7:
            address = _record("Address", [_nullable(c) for c in ADDRESS_CHILDREN])
            fields.append(_nullable("Address", address))
        else:
            fields.append(_nullable(f"Field{position}"))
    return _record("OpportunityChangeEvent", fields)


def test_documented_example_with_two_compound_entries() -> None:
    """['0x650004E0','4-0x10','7-0x06'] selects eight fields, Name.Suffix and two Address parts."""
    names = expand_bitmap_fields(["0x650004E0", "4-0x10", "7-0x06"], _documented_schema())
    assert names == [
        "Field5",
        "Field6",
        "Address",
        "Field10",
        "Field24",
        "Field26",
        "Field29",
        "Field30",
        "Name.Suffix",
        "Address.City",
        "Address.State",
    ]


def test_documented_billing_address_example() -> None:
    """["0x08","3-0x06"] is BillingAddress with its City and State."""
    billing = _record("Address", [_nullable(c) for c in ADDRESS_CHILDREN])
    schema = _record(
        "AccountChangeEvent",
        [HEADER, _nullable("Name"), _nullable("Type"), _nullable("BillingAddress", billing)],
    )
    assert expand_bitmap_fields(["0x08", "3-0x06"], schema) == [
        "BillingAddress",
        "BillingAddress.City",
        "BillingAddress.State",
    ]


def test_compound_referenced_by_name_and_three_branch_union() -> None:
    """A second Address given by type name, in a [null, string, record] union, still expands."""
    address = _record("Address", [_nullable(c) for c in ADDRESS_CHILDREN])
    schema = _record(
        "AccountChangeEvent",
        [
            HEADER,
            _nullable("BillingAddress", address),
            {"name": "ShippingAddress", "type": ["null", "string", "com.sforce.eventbus.Address"]},
        ],
    )
    assert expand_bitmap_fields(["2-0x11"], schema) == [
        "ShippingAddress.Street",
        "ShippingAddress.Country",
    ]


def test_plain_names_pass_through_and_empty_bitmap_selects_nothing() -> None:
    """Entries that are already names are kept; 0x00 adds none; duplicates collapse."""
    schema = _documented_schema()
    assert expand_bitmap_fields(["0x00", "LastModifiedDate", "0x02", "Field1"], schema) == [
        "LastModifiedDate",
        "Field1",
    ]


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (["0x80000000"], "bit 31"),
        (["1-0x01"], "not a compound"),
        (["4-0x40"], "bit 6"),
        (["0xZZ"], "malformed"),
        (["4-0x"], "malformed"),
    ],
    ids=[
        "bit-past-last-field",
        "child-entry-on-plain-field",
        "bit-past-last-child",
        "bad-hex",
        "empty-hex",
    ],
)
def test_bitmap_that_does_not_fit_the_schema_is_rejected(entries: list[str], problem: str) -> None:
    """A bitmap addressing fields the schema lacks means the event and schema disagree."""
    with pytest.raises(ValueError, match=problem):
        expand_bitmap_fields(entries, _documented_schema())


def _encode(positions: set[int], *, upper: bool, even: bool) -> str:
    """The test's own encoder: 0x + hex of the sum of 1 << position."""
    digits = format(sum(1 << p for p in positions), "X" if upper else "x")
    if even and len(digits) % 2:
        digits = "0" + digits
    return "0x" + digits


@st.composite
def _schema_and_selection(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], list[str]]:
    """A random schema, a random choice of its fields, that choice as bitmaps, and as names."""
    top_count = draw(st.integers(min_value=1, max_value=70))
    compounds = draw(st.sets(st.integers(min_value=1, max_value=top_count), max_size=4))
    upper = draw(st.booleans())
    even = draw(st.booleans())
    fields: list[dict[str, Any]] = [HEADER]
    children: dict[int, list[str]] = {}
    for position in range(1, top_count + 1):
        if position in compounds:
            kids = [f"C{position}x{i}" for i in range(draw(st.integers(1, 12)))]
            children[position] = kids
            compound = _record(f"Compound{position}", [_nullable(k) for k in kids])
            fields.append(_nullable(f"F{position}", compound))
        else:
            fields.append(_nullable(f"F{position}"))
    schema = _record("RandomChangeEvent", fields)
    chosen = draw(st.sets(st.integers(min_value=1, max_value=top_count)))
    entries = [_encode(chosen, upper=upper, even=even)]
    expected = [f"F{p}" for p in sorted(chosen)]
    for position, kids in sorted(children.items()):
        picked = draw(st.sets(st.integers(min_value=0, max_value=len(kids) - 1)))
        if picked:
            entries.append(f"{position}-{_encode(picked, upper=upper, even=even)}")
            expected.extend(f"F{position}.{kids[i]}" for i in sorted(picked))
    return schema, entries, expected


@given(_schema_and_selection())
def test_expanding_what_was_encoded_gives_back_the_same_fields(
    case: tuple[dict[str, Any], list[str], list[str]],
) -> None:
    """Any selection encoded as Salesforce does (any case, any length) expands to itself."""
    schema, entries, expected = case
    assert expand_bitmap_fields(entries, schema) == expected
