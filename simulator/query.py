"""SOQL queries over REST: /query, /queryAll and query locators for the next batches."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.apierrors import ApiError
from simulator.clock import SimClock
from simulator.fieldvalues import to_json
from simulator.ids import BASE62, QUERY_LOCATOR_PREFIX, checksum_suffix
from simulator.schema import CATALOGUE, soql_schemas
from simulator.soql import SoqlError, plan
from simulator.store import Store

DEFAULT_BATCH = 2000
MIN_BATCH, MAX_BATCH = 200, 2000
LOCATOR_IDLE = timedelta(minutes=15)
MAX_CURSORS = 1000
_SCHEMAS = soql_schemas()


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    batch: int
    last_used: datetime


def batch_size(header: str | None) -> int:
    """The batch size from `Sforce-Query-Options: batchSize=N` (200..2000; 2000 otherwise)."""
    if not header:
        return DEFAULT_BATCH
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value.strip()), MIN_BATCH), MAX_BATCH)
    return DEFAULT_BATCH


class QueryCursors:
    """Server-side cursors behind nextRecordsUrl; they expire after 15 idle minutes."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, records: list[dict[str, Any]], batch: int) -> str:
        """Keep the records past the first batch; returns the locator."""
        id15 = QUERY_LOCATOR_PREFIX + "".join(secrets.choice(BASE62) for _ in range(12))
        locator = id15 + checksum_suffix(id15)
        with self._lock:
            self._cursors[locator] = _Cursor(records, batch, self._clock.now())
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    def take(self, locator: str, offset: int) -> tuple[list[dict[str, Any]], int, bool]:
        """The batch at an offset, the total size and whether it is the last batch."""
        now = self._clock.now()
        with self._lock:
            cursor = self._cursors.get(locator)
            if cursor is None or now - cursor.last_used > LOCATOR_IDLE:
                self._cursors.pop(locator, None)
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.last_used = now
            end = offset + cursor.batch
            done = end >= len(cursor.records)
            if done:
                self._cursors.pop(locator, None)
            return cursor.records[offset:end], len(cursor.records), done

    def clear(self) -> None:
        """Forget every cursor."""
        with self._lock:
            self._cursors.clear()


def run_query(
    store: Store,
    cursors: QueryCursors,
    soql: str,
    *,
    version: str,
    now: datetime,
    include_deleted: bool,
    batch: int = DEFAULT_BATCH,
) -> dict[str, Any]:
    """Answer a SOQL query with the first batch and, when more remain, a nextRecordsUrl."""
    if not soql.strip():
        raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    try:
        planned = plan(soql, _SCHEMAS, now=now)
    except SoqlError as exc:
        raise ApiError(400, exc.error_code, exc.message) from None
    rows = store.select(planned.sql, planned.params, include_deleted=include_deleted)
    if planned.is_count:
        return {"totalSize": int(rows[0][0]) if rows else 0, "done": True, "records": []}
    spec = CATALOGUE[planned.sobject]
    fields = [spec.field(column) for column in planned.columns]
    records = []
    for row in rows:
        record: dict[str, Any] = {"attributes": {"type": spec.name}}
        for column, field, value in zip(planned.columns, fields, row, strict=True):
            record[column] = to_json(field, value)
        if record.get("Id"):
            record["attributes"]["url"] = (
                f"/services/data/v{version}/sobjects/{spec.name}/{record['Id']}"
            )
        records.append(record)
    if len(records) <= batch:
        return {"totalSize": len(records), "done": True, "records": records}
    locator = cursors.open(records, batch)
    return {
        "totalSize": len(records),
        "done": False,
        "nextRecordsUrl": f"/services/data/v{version}/query/{locator}-{batch}",
        "records": records[:batch],
    }


def next_batch(cursors: QueryCursors, locator_path: str, *, version: str) -> dict[str, Any]:
    """Answer GET /query/<locator>-<offset>."""
    locator, _, raw_offset = locator_path.rpartition("-")
    if not locator or not raw_offset.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    offset = int(raw_offset)
    records, total, done = cursors.take(locator, offset)
    if done:
        return {"totalSize": total, "done": True, "records": records}
    return {
        "totalSize": total,
        "done": False,
        "nextRecordsUrl": f"/services/data/v{version}/query/{locator}-{offset + len(records)}",
        "records": records,
    }
