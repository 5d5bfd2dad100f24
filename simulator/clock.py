"""The simulator's clock: wall time plus an offset that tests can shift."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def format_datetime(moment: datetime) -> str:
    """Render a moment the way Salesforce stores and returns DateTime fields."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as commit timestamps and issued_at carry them."""
    return int(moment.timestamp() * 1000)


class SimClock:
    """Wall-clock time shifted by an offset; CreatedDate, token expiry and the limits day follow it."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current simulated moment, timezone-aware UTC, truncated to milliseconds."""
        with self._lock:
            moment = self._source() + self._offset
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def shift(self, seconds: float) -> datetime:
        """Move simulated time forward (or back, for a negative value) and return the new now."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        """Return to wall-clock time."""
        with self._lock:
            self._offset = timedelta()

    @property
    def offset_seconds(self) -> float:
        """How far simulated time is ahead of wall time."""
        with self._lock:
            return self._offset.total_seconds()
