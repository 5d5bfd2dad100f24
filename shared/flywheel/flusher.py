"""The flusher: moves records from the Redis stream to the store, acknowledging only what is stored.

One flush, as a member of the consumer group ``flushers`` under a consumer name of its own:

1. reclaims entries another flusher read but never acknowledged for ``claim_idle_ms`` (XAUTOCLAIM:
   that flusher died or its store call failed) and writes them;
2. reads new entries (XREADGROUP ``>``), ``batch_size`` at a time, at most ``max_batches``;
3. writes each batch grouped by workload and day (one S3 object, or one fsynced append, per
   group) and only then XACKs and XDELs that group's entries. A flusher killed before the
   acknowledgement leaves its entries pending, so step 1 of a later flush writes them again:
   nothing is lost, and the copies share a record_id that readers drop.

A store failure stops the flush with the failed entries pending (reclaimed later); entries that
cannot be parsed are logged and acknowledged, because no retry could store them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from shared.flywheel.buffer import FLUSH_GROUP, stream_key
from shared.flywheel.store import RecordStore, build_store
from shared.settings import LeadfleetSettings

__all__ = ["FlushReport", "StreamFlusher", "build_flusher", "flush_configured"]

log = logging.getLogger("shared.flywheel")

Entry = tuple[str, dict[str, str]]


@dataclass
class FlushReport:
    """What one flush did."""

    records: int = 0
    reclaimed: int = 0
    locations: list[str] = field(default_factory=list)
    unreadable: int = 0
    trimmed: int = 0
    duration_ms: float = 0.0


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _entries(raw: Any) -> list[Entry]:
    """Stream entries as (id, fields) with text keys and values; trimmed entries are dropped."""
    out: list[Entry] = []
    for entry_id, fields in raw or ():
        if fields is None:
            continue
        out.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return out


def _read_entries(raw: Any) -> list[Entry]:
    """The entries of an XREADGROUP answer on one stream (RESP2 list or RESP3 map)."""
    if not raw:
        return []
    if isinstance(raw, dict):
        return _entries(next(iter(raw.values()))[0] if raw else [])
    return _entries(raw[0][1])


class StreamFlusher:
    """Flushes the flywheel stream into a RecordStore with acknowledge-after-write."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        store: RecordStore,
        *,
        batch_size: int = 500,
        max_batches: int = 200,
        claim_idle_ms: int = 300_000,
        consumer: str | None = None,
    ) -> None:
        self._redis = redis
        self.stream = stream_key(prefix)
        self._store = store
        self._batch = batch_size
        self._max_batches = max_batches
        self._idle_ms = claim_idle_ms
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing."""
        try:
            self._redis.xgroup_create(self.stream, FLUSH_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def flush(self) -> FlushReport:
        """Reclaim abandoned entries, then drain new ones; raises when the store fails."""
        started = time.monotonic()
        report = FlushReport()
        self.ensure_group()
        try:
            batches = self._reclaim(report)
            while batches < self._max_batches:
                raw: Any = self._redis.xreadgroup(
                    FLUSH_GROUP, self.consumer, {self.stream: ">"}, count=self._batch
                )
                entries = _read_entries(raw)
                if not entries:
                    break
                self._write(entries, report)
                batches += 1
        finally:
            report.duration_ms = round((time.monotonic() - started) * 1000, 1)
            self._forget_idle_consumers()
        log.info(
            "flywheel flush",
            extra={
                "records": report.records,
                "reclaimed": report.reclaimed,
                "objects": len(report.locations),
                "unreadable": report.unreadable,
                "trimmed": report.trimmed,
                "duration_ms": report.duration_ms,
                "consumer": self.consumer,
            },
        )
        return report

    def _reclaim(self, report: FlushReport) -> int:
        """Take over entries idle past claim_idle_ms and write them; returns batches written."""
        start = "0-0"
        batches = 0
        while batches < self._max_batches:
            answer = self._redis.xautoclaim(
                self.stream,
                FLUSH_GROUP,
                self.consumer,
                min_idle_time=self._idle_ms,
                start_id=start,
                count=self._batch,
            )
            start = _text(answer[0])
            entries = _entries(answer[1])
            deleted = [_text(i) for i in answer[2]] if len(answer) > 2 else []
            if deleted:
                # Trimmed by MAXLEN before any flusher stored them: lost, and said so loudly.
                self._redis.xack(self.stream, FLUSH_GROUP, *deleted)
                report.trimmed += len(deleted)
                log.error("flywheel records trimmed before flush", extra={"count": len(deleted)})
            if entries:
                report.reclaimed += len(entries)
                self._write(entries, report)
                batches += 1
            if start == "0-0":
                break
        return batches

    def _write(self, entries: Sequence[Entry], report: FlushReport) -> None:
        groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        unreadable: list[str] = []
        for entry in entries:
            fields = entry[1]
            if not {"workload_id", "day", "record"} <= fields.keys():
                unreadable.append(entry[0])
                continue
            groups[(fields["workload_id"], fields["day"])].append(entry)
        if unreadable:
            log.error("flywheel entries unreadable, dropped", extra={"count": len(unreadable)})
            self._acknowledge(unreadable)
            report.unreadable += len(unreadable)
        for (workload_id, day), group in groups.items():
            location = self._store.write(
                workload_id, date.fromisoformat(day), [fields["record"] for _, fields in group]
            )
            # Only now is the group safe in the store; until here a crash leaves it pending.
            self._acknowledge([entry_id for entry_id, _ in group])
            report.records += len(group)
            report.locations.append(location)

    def _acknowledge(self, ids: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.xack(self.stream, FLUSH_GROUP, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.execute()

    def _forget_idle_consumers(self) -> None:
        """Drop consumers with nothing pending (each flush joins under a new name)."""
        try:
            consumers = self._redis.xinfo_consumers(self.stream, FLUSH_GROUP)
            for consumer in consumers:
                name = _text(consumer.get("name"))
                idle = int(consumer.get("idle", 0))
                if int(consumer.get("pending", 0)) == 0 and (
                    name == self.consumer or idle > self._idle_ms
                ):
                    self._redis.xgroup_delconsumer(self.stream, FLUSH_GROUP, name)
        except RedisError as exc:
            # Housekeeping only: a failure here must not hide the flush's own outcome.
            log.warning("flywheel consumer cleanup failed", extra={"error": str(exc)[:200]})

    def backlog(self) -> dict[str, int]:
        """Unflushed records in the stream and records read but not yet acknowledged."""
        self.ensure_group()
        pending = self._redis.xpending(self.stream, FLUSH_GROUP)
        return {
            "stream": int(self._redis.xlen(self.stream)),
            "pending": int(pending.get("pending", 0)) if isinstance(pending, dict) else 0,
        }


def build_flusher(
    settings: LeadfleetSettings, redis: Redis, store: RecordStore | None = None
) -> StreamFlusher:
    """The flusher the settings describe, on the given Redis connection."""
    flywheel = settings.flywheel
    return StreamFlusher(
        redis,
        settings.redis.key_prefix,
        store if store is not None else build_store(flywheel),
        batch_size=flywheel.flush_batch_size,
        max_batches=flywheel.flush_max_batches,
        claim_idle_ms=flywheel.claim_idle_ms,
    )


def flush_configured(settings: LeadfleetSettings, redis: Redis) -> FlushReport | None:
    """One flush into the configured store; None when the flywheel is off."""
    if settings.flywheel.sink == "off":
        return None
    return build_flusher(settings, redis).flush()
