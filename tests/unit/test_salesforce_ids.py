"""Salesforce ids are checked before they reach a URL or a SOQL string."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInputError
from shared.salesforce.ids import is_valid_id, key_prefix, to_18, validate_id


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
        ("00Q5e00000AbCdE", "00Q5e00000AbCdEEAV"),
        ("005000000000000", "005000000000000AAA"),
        ("ABCDEABCDEABCDE", "ABCDEABCDEABCDE555"),
        ("abcdeabcdeabcde", "abcdeabcdeabcdeAAA"),
    ],
    ids=["account", "lead-mixed-case", "all-digits", "all-upper", "all-lower"],
)
def test_to_18_appends_the_case_checksum(id15: str, id18: str) -> None:
    """The suffix encodes, chunk by chunk, which of the 15 characters are upper case."""
    assert to_18(id15) == id18
    assert is_valid_id(id18)


def test_to_18_of_an_18_char_id_canonicalises_the_suffix() -> None:
    """An 18-character id maps to one canonical form, so ids from different sources compare equal."""
    assert to_18("001A0000006Vm9riac") == "001A0000006Vm9rIAC"


@pytest.mark.parametrize(
    "value",
    [
        "001A0000006Vm9r",
        "001A0000006Vm9rIAC",
        "001A0000006Vm9riac",
    ],
    ids=["15-chars", "18-chars", "18-lower-suffix"],
)
def test_valid_ids(value: str) -> None:
    """Both lengths are accepted; the suffix's own letter case does not matter."""
    assert is_valid_id(value)
    assert validate_id(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "15 or 18 characters"),
        ("001A0000006Vm9", "15 or 18 characters"),
        ("001A0000006Vm9rI", "15 or 18 characters"),
        ("001A0000006Vm9rIACX", "15 or 18 characters"),
        ("001A0000006Vm9rIAD", "checksum"),
        ("001A0000006VM9RIAC", "checksum"),
        ("001a0000006vm9riac", "checksum"),
        ("001A0000006V'9r", "0-9, A-Z and a-z"),
        ("001A0000006V 9r", "0-9, A-Z and a-z"),
        ("001' OR Id != '", "0-9, A-Z and a-z"),
        ("001A0000006Vm9\n", "0-9, A-Z and a-z"),
        ("001A0000006Vm9é", "0-9, A-Z and a-z"),
        (None, "found NoneType"),
        (1234567890123450, "found int"),
    ],
    ids=[
        "empty",
        "14-chars",
        "16-chars",
        "19-chars",
        "wrong-suffix",
        "body-upper-cased",
        "whole-id-lower-cased",
        "quote",
        "space",
        "soql-injection",
        "newline",
        "non-ascii",
        "none",
        "int",
    ],
)
def test_invalid_ids_are_rejected_with_the_reason(value: object, expected: str) -> None:
    """Anything that is not exactly a Salesforce id raises InvalidInputError saying why."""
    assert not is_valid_id(value)
    with pytest.raises(InvalidInputError, match=expected):
        validate_id(value)


@pytest.mark.parametrize(
    ("value", "prefixes", "ok"),
    [
        ("005000000000001", ("005",), True),
        ("00G000000000001", ("005", "00G"), True),
        ("00G000000000001", ("005",), False),
        ("00g000000000001", ("00G",), False),
        ("00Q000000000001", ("005", "00G"), False),
    ],
    ids=["user-as-user", "queue-as-owner", "queue-as-user", "prefix-case-matters", "lead-as-owner"],
)
def test_prefix_restriction(value: str, prefixes: tuple[str, ...], ok: bool) -> None:
    """A caller can insist on the kind of record; the key prefix is compared case-sensitively."""
    if ok:
        assert validate_id(value, prefixes=prefixes) == value
    else:
        with pytest.raises(InvalidInputError, match="expected an id starting with"):
            validate_id(value, prefixes=prefixes)


def test_key_prefix_names_the_object() -> None:
    """The first three characters say what kind of record an id is."""
    assert key_prefix("00Q5e00000AbCdEEAV") == "00Q"
    with pytest.raises(InvalidInputError):
        key_prefix("00Q")
