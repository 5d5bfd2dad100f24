"""Where workloads record their decisions for the flywheel; the durable sink plugs in here."""

from __future__ import annotations

import threading
from typing import Any, Protocol


class FlywheelSink(Protocol):
    """Takes one decision record (JSON-ready dict); must not block a workload for long."""

    def append(self, record: dict[str, Any]) -> None:
        """Record one decision."""
        ...


class NullFlywheel:
    """Drops every record: the sink until a durable one is configured."""

    def append(self, record: dict[str, Any]) -> None:
        """Forget the record."""


class FakeFlywheel:
    """Keeps records in memory so tests can read what the workloads recorded."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Keep the record."""
        with self._lock:
            self.records.append(record)

    def for_workload(self, workload_id: str) -> list[dict[str, Any]]:
        """The records of one workload, oldest first."""
        with self._lock:
            return [r for r in self.records if r.get("workload_id") == workload_id]
