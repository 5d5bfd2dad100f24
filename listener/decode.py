"""Decode a change event's raw Avro payload with its schema, fetched once per schema id.

Pub/Sub payloads are bare Avro binary datums (no container, no magic bytes) written with the
schema named by the event's schema id. A payload that cannot be decoded raises DecodeError; the
caller dead-letters the raw bytes and keeps going.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import fastavro

from listener.bitmaps import SchemaLayout
from shared.errors import InvalidInputError, truncate

HEADER_FIELD = "ChangeEventHeader"


class DecodeError(InvalidInputError):
    """A change event that cannot be decoded: unknown schema, bad Avro, or no header."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SchemaSource(Protocol):
    """Where schemas come from (the GetSchema RPC); raises LookupError for an unknown id.

    Any other exception is a failure to ask (a dropped connection, a timeout) and propagates,
    so the event is retried rather than dead-lettered.
    """

    def get_schema(self, schema_id: str) -> str:
        """The Avro schema with this id, as JSON text."""
        ...


@dataclass(frozen=True, eq=False)
class EventSchema:
    """A change event schema, parsed once: the JSON, fastavro's form and the field layout."""

    schema_id: str
    schema: Mapping[str, Any] = field(repr=False)
    parsed: Any = field(repr=False)
    layout: SchemaLayout = field(repr=False)

    @classmethod
    def from_json(cls, schema_id: str, schema_json: str) -> EventSchema:
        """Parse a schema's JSON text; DecodeError when it is not a change event record schema."""
        try:
            schema = json.loads(schema_json)
            parsed = fastavro.parse_schema(schema)
            layout = SchemaLayout.from_schema(schema)
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
            raise DecodeError(f"schema {schema_id!r} is not a valid Avro schema: {exc}") from exc
        if not layout.fields or layout.fields[0].name != HEADER_FIELD:
            raise DecodeError(f"schema {schema_id!r} does not start with {HEADER_FIELD}")
        return cls(schema_id, schema, parsed, layout)


@dataclass(frozen=True)
class DecodedEvent:
    """A change event's payload as a dict, with the schema it was written with."""

    schema: EventSchema
    payload: dict[str, Any]


class EventDecoder:
    """Decode payloads, fetching and parsing each schema id's schema only the first time."""

    def __init__(self, schema_source: SchemaSource) -> None:
        self._source = schema_source
        self._schemas: dict[str, EventSchema] = {}

    def schema(self, schema_id: str) -> EventSchema:
        """The parsed schema for an id; DecodeError when the source does not know it."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            schema_json = self._source.get_schema(schema_id)
        except LookupError as exc:
            raise DecodeError(f"unknown schema id {schema_id!r}") from exc
        schema = EventSchema.from_json(schema_id, schema_json)
        self._schemas[schema_id] = schema
        return schema

    def decode(self, schema_id: str, payload: bytes) -> DecodedEvent:
        """Decode one payload; DecodeError when it does not read as its schema's record."""
        schema = self.schema(schema_id)
        stream = io.BytesIO(payload)
        try:
            record = fastavro.schemaless_reader(stream, schema.parsed, None)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
            raise DecodeError(
                f"payload does not decode with schema {schema_id!r}: "
                f"{type(exc).__name__}: {truncate(str(exc), 200)}"
            ) from exc
        if stream.tell() != len(payload):
            raise DecodeError(
                f"payload has {len(payload) - stream.tell()} bytes left over after the record "
                f"of schema {schema_id!r}"
            )
        if not isinstance(record, dict) or not isinstance(record.get(HEADER_FIELD), dict):
            raise DecodeError(f"event of schema {schema_id!r} has no {HEADER_FIELD}")
        return DecodedEvent(schema, record)
