"""The dead-letter stream: what the listener could not decode and what workers gave up on.

One Redis stream per fleet, ``<prefix>:deadletter``, trimmed to about ``max_length`` entries
(XADD MAXLEN ~). Each entry keeps its source (listener or worker), the reason, the payload and
when it was first and last seen, so a person can inspect it and replay it from the CLI.

Entries are stored as given: callers pass payloads that hold no secrets (queue messages and raw
change events carry none; never pass request headers or tokens) and reasons built from error
messages, which leadfleet's errors keep free of secrets.
"""

from __future__ import annotations

import base64
import builtins
import json
import re
from datetime import datetime
from typing import Any, Literal, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue
from redis import Redis
from redis.typing import EncodableT, FieldT

from shared.errors import truncate

DeadLetterSource = Literal["listener", "worker"]
PayloadEncoding = Literal["base64", "text", "json"]
_REASON_LIMIT = 2000
_ENTRY_ID = re.compile(r"\d+-\d+")


class DeadLetter(BaseModel):
    """One dead-lettered payload with why and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    source: DeadLetterSource
    reason: str
    payload: str = Field(description="The payload as stored; see payload_encoding.")
    payload_encoding: PayloadEncoding
    task: str | None = None
    attempts: int = Field(ge=0)
    first_seen: AwareDatetime
    last_seen: AwareDatetime

    def original_payload(self) -> bytes | str | dict[str, JsonValue]:
        """The payload as it was given to `DeadLetterStream.add` (bytes, text or a dict)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        if self.payload_encoding == "json":
            return cast(dict[str, JsonValue], json.loads(self.payload))
        return self.payload


class DeadLetterStream:
    """Add, list, read, delete and purge dead letters in ``<prefix>:deadletter``."""

    def __init__(self, redis: Redis, prefix: str, *, max_length: int = 10_000) -> None:
        self._redis = redis
        self.key = f"{prefix}:deadletter"
        self._max_length = max_length

    def add(
        self,
        source: DeadLetterSource,
        reason: str,
        payload: bytes | str | dict[str, Any],
        *,
        task: str | None = None,
        attempts: int = 1,
        first_seen: datetime,
        last_seen: datetime | None = None,
    ) -> str:
        """Store a payload that could not be processed; bytes are kept as base64. Returns its id."""
        if first_seen.tzinfo is None or (last_seen is not None and last_seen.tzinfo is None):
            raise ValueError("first_seen and last_seen must be timezone-aware")
        if isinstance(payload, bytes):
            stored, encoding = base64.b64encode(payload).decode("ascii"), "base64"
        elif isinstance(payload, str):
            stored, encoding = payload, "text"
        else:
            stored, encoding = json.dumps(payload, sort_keys=True, default=str), "json"
        entry: dict[FieldT, EncodableT] = {
            "source": source,
            "reason": truncate(reason, _REASON_LIMIT),
            "payload": stored,
            "payload_encoding": encoding,
            "task": task or "",
            "attempts": str(attempts),
            "first_seen": first_seen.isoformat(),
            "last_seen": (last_seen or first_seen).isoformat(),
        }
        entry_id = self._redis.xadd(self.key, entry, maxlen=self._max_length, approximate=True)
        return _text(entry_id)

    def list(self, count: int = 100, *, start: str = "-") -> builtins.list[DeadLetter]:
        """Up to count entries, oldest first, from the id start (inclusive)."""
        if start != "-":
            _check_id(start)
        rows = self._redis.xrange(self.key, min=start, max="+", count=count) or []
        return [
            _entry(entry_id, fields)
            for entry_id, fields in rows
            if entry_id is not None and fields is not None
        ]

    def get(self, entry_id: str) -> DeadLetter | None:
        """One entry by id, or None when it is gone."""
        _check_id(entry_id)
        found = self.list(1, start=entry_id)
        return found[0] if found and found[0].id == entry_id else None

    def delete(self, entry_id: str) -> bool:
        """Remove one entry (after a replay, say); False when there was none."""
        _check_id(entry_id)
        return bool(self._redis.xdel(self.key, entry_id))

    def purge(self) -> int:
        """Remove every entry; returns how many there were."""
        count = self.length()
        self._redis.delete(self.key)
        return count

    def length(self) -> int:
        """How many entries the stream holds."""
        return int(self._redis.xlen(self.key))


def _check_id(entry_id: str) -> None:
    """Refuse what is not a stream entry id before Redis sees it (ids come from the CLI)."""
    if not _ENTRY_ID.fullmatch(entry_id):
        raise ValueError(f"{entry_id!r} is not a dead-letter id (expected <ms>-<seq>)")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _entry(entry_id: bytes | str, fields: dict[bytes | str, bytes | str]) -> DeadLetter:
    values = {_text(k): _text(v) for k, v in fields.items()}
    return DeadLetter.model_validate(
        {
            **values,
            "id": _text(entry_id),
            "task": values.get("task") or None,
            "attempts": int(values.get("attempts", "0")),
        }
    )
