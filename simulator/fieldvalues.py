"""Field values between JSON on the wire and SQLite storage (the conventions the SOQL planner assumes).

datetime: TEXT 'YYYY-MM-DDTHH:MM:SS.mmm+0000' UTC; date: TEXT 'YYYY-MM-DD'; boolean: INTEGER 0/1;
int: INTEGER; double/currency/percent: REAL; everything else TEXT.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from simulator.apierrors import ApiError, json_parser_error
from simulator.clock import format_datetime
from simulator.schema import TEXT_TYPES, FieldSpec

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sql_type(spec: FieldSpec) -> str:
    """The SQLite column affinity for a field."""
    if spec.type in ("boolean", "int"):
        return "INTEGER"
    if spec.type in ("double", "currency", "percent"):
        return "REAL"
    return "TEXT"


def parse_datetime(raw: str) -> datetime:
    """An ISO 8601 date-time as Salesforce accepts it (Z, +0000 or +00:00; seconds optional)."""
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _type_error(spec: FieldSpec, value: object) -> ApiError:
    kind = {"boolean": "boolean", "int": "int", "date": "Date", "datetime": "Datetime"}.get(
        spec.type, "double"
    )
    return json_parser_error(
        f"Cannot deserialize instance of {kind} from VALUE_{type(value).__name__.upper()} "
        f"value {value!r} or request may be missing a required field"
    )


def to_storage(spec: FieldSpec, value: Any) -> Any:
    """Validate a JSON value for a field and convert it to its stored form."""
    if value is None:
        return None
    if spec.type == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise _type_error(spec, value)
    if spec.type == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _type_error(spec, value)
        try:
            number = float(value)
        except ValueError:
            raise _type_error(spec, value) from None
        if number != int(number):
            raise _type_error(spec, value)
        return int(number)
    if spec.type in ("double", "currency", "percent"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _type_error(spec, value)
        try:
            return float(value)
        except ValueError:
            raise _type_error(spec, value) from None
    if spec.type == "date":
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise _type_error(spec, value) from None
    if spec.type == "datetime":
        if not isinstance(value, str):
            raise _type_error(spec, value)
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise _type_error(spec, value) from None
    text = value if isinstance(value, str) else str(value)
    if spec.type in TEXT_TYPES and text == "":
        return None
    if spec.length and len(text) > spec.length:
        shown = text if len(text) <= 100 else text[:100] + "..."
        raise ApiError(
            400,
            "STRING_TOO_LONG",
            f"{spec.label or spec.name}: data value too large: {shown} (max length={spec.length})",
            [spec.name],
        )
    if spec.type == "email" and not _EMAIL.match(text):
        raise ApiError(
            400, "INVALID_EMAIL_ADDRESS", f"{spec.name}: invalid email address: {text}", [spec.name]
        )
    return text


def to_json(spec: FieldSpec | None, stored: Any) -> Any:
    """A stored value as the REST API returns it."""
    if stored is None or spec is None:
        return stored
    if spec.type == "boolean":
        return bool(stored)
    if spec.type == "int":
        return int(stored)
    if spec.type in ("double", "currency", "percent"):
        return float(stored)
    return stored
