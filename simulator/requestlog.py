"""The request log: one entry per answered request, newest last, bounded."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """What was asked, what was answered, when (simulator clock) and by which Call Options client."""

    method: str
    path: str
    status: int
    timestamp: str
    client: str | None
    duration_ms: float
    faults: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        record = asdict(self)
        record["faults"] = list(self.faults)
        return record


class RequestLog:
    """Keeps the most recent requests (10,000 by default)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._entries: deque[RequestRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        """Append one record."""
        with self._lock:
            self._entries.append(record)

    def entries(self) -> list[RequestRecord]:
        """Every kept record, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._entries.clear()
