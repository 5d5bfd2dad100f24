"""The flywheel buffer: workers append records to a Redis stream; a flusher moves them to the store.

``append`` turns a workload's dict into a `FlywheelRecord` (`to_record`), redacts it when
``redact_pii`` is on (so no personal data leaves the worker), and adds it to the stream
``<prefix>:flywheel`` with XADD MAXLEN ~ (a bound on memory if flushing stops). In the same
round trip it remembers a routed lead for feedback and reads the stream's length; past
``flush_when_stream_exceeds`` unflushed records it asks for a flush, at most once per interval
(a Redis key with NX and a TTL, fleet-wide).

A record that cannot be appended is logged and dropped rather than failing the workload: the
decision is already applied in Salesforce, and a retry of the workload would find it done and
could not record it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError

from shared.flywheel.builder import to_record
from shared.flywheel.feedback import RoutedLead, RoutedLeads
from shared.flywheel.record import ROUTE_WORKLOAD, FlywheelRecord
from shared.flywheel.redaction import names_of, redact_record
from shared.settings import FlywheelSettings

__all__ = ["FLUSH_GROUP", "RedisStreamSink", "build_stream_sink", "stream_key"]

FLUSH_GROUP = "flushers"
log = logging.getLogger("shared.flywheel")


def stream_key(prefix: str) -> str:
    """The flywheel stream's key."""
    return f"{prefix}:flywheel"


def flush_request_key(prefix: str) -> str:
    """The key that rate-limits flush requests from appenders."""
    return f"{prefix}:flywheel:flush_requested"


class RedisStreamSink:
    """A FlywheelSink that appends records to the fleet's Redis stream."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        client_id: str,
        max_length: int,
        redact_pii: bool = False,
        flush_when_exceeds: int = 5000,
        flush_request_interval_seconds: float = 10.0,
        routed_memory_seconds: int = 30 * 86400,
        request_flush: Callable[[], None] | None = None,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self.stream = stream_key(prefix)
        self._client_id = client_id
        self._max_length = max_length
        self._redact = redact_pii
        self._flush_when = flush_when_exceeds
        self._flush_interval_ms = max(int(flush_request_interval_seconds * 1000), 1)
        self._routed = RoutedLeads(redis, prefix, ttl_seconds=routed_memory_seconds)
        self._request_flush = request_flush
        self.dropped = 0

    def build(self, raw: dict[str, Any]) -> FlywheelRecord:
        """The record as it will be stored: converted, and redacted when asked."""
        record = to_record(raw, client_id=self._client_id)
        if self._redact:
            record = redact_record(record, names_of(raw.get("lead")))
        return record

    def append(self, record: dict[str, Any]) -> None:
        """Add one decision to the stream (never raises: see the module docstring)."""
        workload = record.get("workload_id")
        lead_id = record.get("lead_id")
        try:
            built = self.build(record)
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            self.dropped += 1
            log.error(
                "flywheel record invalid, dropped",
                extra={"workload": workload, "lead_id": lead_id, "error": str(exc)[:300]},
            )
            return
        try:
            length = self._add(built)
        except RedisError as exc:
            self.dropped += 1
            log.error(
                "flywheel append failed, record dropped",
                extra={"workload": workload, "lead_id": lead_id, "error": str(exc)[:300]},
            )
            return
        if length > self._flush_when:
            self._ask_for_flush(length)

    def _add(self, record: FlywheelRecord) -> int:
        fields = {
            "workload_id": record.workload_id,
            "day": record.timestamp.date().isoformat(),
            "record": record.to_json_line(),
        }
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(self.stream, fields, maxlen=self._max_length, approximate=True)  # type: ignore[arg-type]
        pipe.xlen(self.stream)
        meta = record.metadata
        if record.workload_id == ROUTE_WORKLOAD and meta.outcome == "routed" and meta.owner:
            self._routed.remember(
                pipe,
                RoutedLead(
                    lead_id=str(meta.lead_id),
                    owner=meta.owner,
                    routed_at=record.timestamp,
                    record_id=meta.record_id,
                ),
            )
        results = pipe.execute()
        return int(results[1])

    def _ask_for_flush(self, length: int) -> None:
        if self._request_flush is None:
            return
        try:
            first = self._redis.set(
                flush_request_key(self._prefix), "1", nx=True, px=self._flush_interval_ms
            )
            if first:
                self._request_flush()
                log.info("flywheel flush requested", extra={"stream_length": length})
        except Exception as exc:
            # The beat schedule flushes anyway; a lost request only delays the flush.
            log.warning("flywheel flush request failed", extra={"error": str(exc)[:300]})


def build_stream_sink(
    settings: FlywheelSettings,
    redis: Redis,
    *,
    prefix: str,
    client_id: str,
    request_flush: Callable[[], None] | None = None,
) -> RedisStreamSink:
    """The appender the settings describe."""
    return RedisStreamSink(
        redis,
        prefix,
        client_id=client_id,
        max_length=settings.stream_max_length,
        redact_pii=settings.redact_pii,
        flush_when_exceeds=settings.flush_when_stream_exceeds,
        flush_request_interval_seconds=settings.flush_request_interval_seconds,
        routed_memory_seconds=settings.routed_memory_seconds,
        request_flush=request_flush,
    )
