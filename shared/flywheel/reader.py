"""Reading records back from the store for a date range, one copy per decision.

Copies of a decision share a record_id (see shared.flywheel.record): a batch uploaded again
after a flusher died, an event delivered twice, a task retried. The reader keeps the earliest
copy by timestamp (the run that made the decision; later copies only found it made), ties
broken by the order read. Lines that are not JSON (a torn last line of a local file) are
counted and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.flywheel.record import WORKLOAD_IDS, FlywheelRecord
from shared.flywheel.store import RecordStore

__all__ = ["ReadReport", "dedup", "iter_record_dicts", "read_record_dicts", "read_records"]


@dataclass
class ReadReport:
    """What a read found: lines, copies dropped and unreadable lines, per workload."""

    lines: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0


def iter_record_dicts(
    store: RecordStore,
    *,
    since: date | None = None,
    until: date | None = None,
    workloads: Iterable[str] = WORKLOAD_IDS,
    report: ReadReport | None = None,
) -> Iterator[dict[str, Any]]:
    """Every stored record (copies included) of the workloads and days, as JSON dicts."""
    for workload in workloads:
        for location in store.locations(workload, since, until):
            for line in store.read_lines(location):
                try:
                    data = json.loads(line)
                except ValueError:
                    data = None
                if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
                    if report is not None:
                        report.unreadable += 1
                    continue
                if report is not None:
                    report.lines[workload] = report.lines.get(workload, 0) + 1
                yield data


def dedup(
    records: Iterable[dict[str, Any]], report: ReadReport | None = None
) -> list[dict[str, Any]]:
    """One copy per record_id, the earliest by timestamp; ordered by timestamp."""
    kept: dict[str, tuple[str, int, dict[str, Any]]] = {}
    for order, record in enumerate(records):
        record_id = str(record["metadata"].get("record_id"))
        stamp = str(record.get("timestamp", ""))
        held = kept.get(record_id)
        if held is not None and report is not None:
            workload = str(record.get("workload_id"))
            report.duplicates[workload] = report.duplicates.get(workload, 0) + 1
        # ISO-8601 UTC timestamps with a fixed width compare correctly as text.
        if held is None or stamp < held[0]:
            kept[record_id] = (stamp, order, record)
    return [item[2] for item in sorted(kept.values(), key=lambda item: (item[0], item[1]))]


def read_record_dicts(
    store: RecordStore,
    *,
    since: date | None = None,
    until: date | None = None,
    workloads: Iterable[str] = WORKLOAD_IDS,
    report: ReadReport | None = None,
) -> list[dict[str, Any]]:
    """The records of the workloads and days as JSON dicts, one per decision."""
    return dedup(
        iter_record_dicts(store, since=since, until=until, workloads=workloads, report=report),
        report,
    )


def read_records(
    store: RecordStore,
    *,
    since: date | None = None,
    until: date | None = None,
    workloads: Iterable[str] = WORKLOAD_IDS,
    report: ReadReport | None = None,
) -> list[FlywheelRecord]:
    """The records of the workloads and days as models, one per decision."""
    return [
        FlywheelRecord.model_validate(data)
        for data in read_record_dicts(
            store, since=since, until=until, workloads=workloads, report=report
        )
    ]
