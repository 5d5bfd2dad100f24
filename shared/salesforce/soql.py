"""Safe SOQL building: every value enters a query as a validated, escaped literal.

Raw input is never concatenated into a query; ids are validated (length, characters,
checksum) and domains checked as DNS names before a request is made, so a hostile value
fails here with InvalidInputError instead of reaching Salesforce.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from shared.errors import InvalidInputError
from shared.salesforce.ids import validate_id

__all__ = [
    "datetime_literal",
    "domain_literal",
    "field_name",
    "id_list",
    "id_literal",
    "like_pattern",
    "normalize_domain",
    "quote",
]

# The escape sequences SOQL defines for quoted strings; any other backslash is an error.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_LIKE_ESCAPES = {**_ESCAPES, "%": "\\%", "_": "\\_"}
_STRING_TABLE = str.maketrans(_ESCAPES)
_LIKE_TABLE = str.maketrans(_LIKE_ESCAPES)
# Control characters without an escape sequence, and lone surrogates (not encodable as UTF-8).
_UNESCAPABLE = re.compile(r"[\x00-\x07\x0b\x0e-\x1f\x7f\ud800-\udfff]")

_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")

LikePosition = Literal["contains", "startswith", "endswith", "exact"]


def _checked(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text, got {type(value).__name__}")
    if _UNESCAPABLE.search(value):
        raise InvalidInputError(f"{what} contains a character SOQL cannot express")
    return value


def quote(value: str) -> str:
    """A SOQL string literal for value, quotes, backslashes and line breaks escaped."""
    return "'" + _checked(value, "string value").translate(_STRING_TABLE) + "'"


def like_pattern(value: str, *, position: LikePosition = "contains") -> str:
    """A quoted LIKE pattern that matches value literally (its % and _ are not wildcards)."""
    escaped = _checked(value, "LIKE value").translate(_LIKE_TABLE)
    prefix = "%" if position in ("contains", "endswith") else ""
    suffix = "%" if position in ("contains", "startswith") else ""
    return f"'{prefix}{escaped}{suffix}'"


def id_literal(value: str, prefixes: Sequence[str] | None = None) -> str:
    """A quoted Salesforce id, validated (and its key prefix checked) before any request."""
    wanted = tuple(prefixes) if prefixes is not None else None
    return quote(validate_id(value, prefixes=wanted))


def id_list(values: Iterable[str], prefixes: Sequence[str] | None = None) -> str:
    """A parenthesised list of validated id literals for an IN clause; at least one id."""
    literals = [id_literal(v, prefixes) for v in values]
    if not literals:
        raise InvalidInputError("an IN list needs at least one id")
    return "(" + ", ".join(literals) + ")"


def datetime_literal(dt: datetime) -> str:
    """A SOQL date-time literal in UTC (YYYY-MM-DDTHH:MM:SSZ); naive datetimes are refused."""
    if not isinstance(dt, datetime):
        raise InvalidInputError(f"expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidInputError("a naive datetime has no defined instant; pass an aware one")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_domain(domain: str) -> str:
    """A DNS domain in lower-case ASCII (IDNA), or InvalidInputError for anything else."""
    if not isinstance(domain, str) or not domain:
        raise InvalidInputError("a domain must be non-empty text")
    candidate = domain[:-1] if domain.endswith(".") else domain
    try:
        # encodings.idna applies nameprep but not the STD3 rules, so labels are checked below.
        ascii_form = candidate.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInputError(f"not a valid domain: {domain!r}") from None
    labels = ascii_form.split(".")
    if (
        len(ascii_form) > 253
        or len(labels) < 2
        or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInputError(f"not a valid domain: {domain!r}")
    return ascii_form


def domain_literal(domain: str) -> str:
    """A quoted SOQL literal of a validated, IDNA-normalised DNS domain."""
    return quote(normalize_domain(domain))


def field_name(name: str) -> str:
    """A field API name (Email, First_Response_At__c), validated before it reaches a request."""
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise InvalidInputError(f"not a field name: {name!r}")
    return name
