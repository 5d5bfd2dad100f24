"""One API transaction: a timestamp, a running user, an origin and the changes made so far."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from simulator.changelog import PendingChange
from simulator.clock import format_datetime
from simulator.store import Store


def change_origin(version: str, client: str | None) -> str:
    """The changeOrigin of a REST change: the API and version, plus the Call Options client."""
    origin = f"com/salesforce/api/rest/{version}"
    return f"{origin};client={client}" if client else origin


@dataclass
class Transaction:
    """Everything written in one request; every row it touches gets the same timestamp."""

    store: Store
    now: datetime
    user_id: str
    origin: str
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    changes: list[PendingChange] = field(default_factory=list)
    _savepoints: int = 0

    @property
    def timestamp(self) -> str:
        """The transaction's moment in stored DateTime form."""
        return format_datetime(self.now)

    def record(self, change: PendingChange) -> None:
        """Note a change for the change log."""
        self.changes.append(change)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo the body's rows and changes alone when it raises."""
        self._savepoints += 1
        mark = len(self.changes)
        try:
            with self.store.savepoint(f"sp{self._savepoints}"):
                yield
        except BaseException:
            del self.changes[mark:]
            raise
