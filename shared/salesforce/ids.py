"""Salesforce record ids: validation before an id reaches a URL or a SOQL string, and the 18-char form.

An id is 15 base-62 characters (case-sensitive) or those 15 plus a 3-character suffix that
encodes where the upper-case letters are, which makes the 18-character form usable where case is
lost. Rule for the suffix: it is compared with the checksum computed from the first 15 characters
ignoring the suffix's own letter case (``a`` and ``A`` are the same suffix character), but the
first 15 characters must carry exactly the case pattern the suffix encodes, so an 18-character id
whose body was upper- or lower-cased is rejected.
"""

from __future__ import annotations

import re

from shared.errors import InvalidInputError

_BASE62_15 = re.compile(r"[0-9A-Za-z]{15}")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHOWN_LIMIT = 40


def _checksum(id15: str) -> str:
    """The 3-character suffix for a 15-character id: one character per 5-character chunk."""
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def _problem(value: object) -> str | None:
    """Why a value is not a Salesforce id, or None when it is one."""
    if not isinstance(value, str):
        return f"expected a Salesforce id string, found {type(value).__name__}"
    if len(value) not in (15, 18):
        return f"expected 15 or 18 characters, found {len(value)}"
    if not _BASE62_15.fullmatch(value[:15]):
        return "expected only the characters 0-9, A-Z and a-z"
    if len(value) == 18 and value[15:].upper() != _checksum(value[:15]):
        return f"checksum suffix {value[15:]!r} does not match; expected {_checksum(value[:15])!r}"
    return None


def _shown(value: object) -> str:
    """A short printable form of a rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_LIMIT else text[:_SHOWN_LIMIT] + "…"


def is_valid_id(value: object) -> bool:
    """True for a well-formed 15- or 18-character Salesforce id (18 with the right suffix)."""
    return _problem(value) is None


def validate_id(value: object, *, prefixes: tuple[str, ...] | None = None) -> str:
    """Return the id unchanged if well-formed and (when given) starting with one of the prefixes."""
    problem = _problem(value)
    if problem is not None or not isinstance(value, str):
        raise InvalidInputError(f"{_shown(value)} is not a Salesforce id: {problem}")
    # Key prefixes are case-sensitive: 00G is a Group, 00g is something else.
    if prefixes is not None and value[:3] not in prefixes:
        wanted = " or ".join(prefixes)
        raise InvalidInputError(
            f"{_shown(value)} is not the right kind of record: expected an id starting with "
            f"{wanted}, found prefix {value[:3]!r}"
        )
    return value


def to_18(id15: str) -> str:
    """The 18-character form of an id; an 18-character id comes back with its suffix upper-cased."""
    validate_id(id15)
    return id15[:15] + _checksum(id15[:15])


def key_prefix(record_id: str) -> str:
    """The 3-character key prefix naming the object type (005 User, 00G Group, 00Q Lead...)."""
    return validate_id(record_id)[:3]
