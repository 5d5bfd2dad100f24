"""Org limits: maxima, usage counted per simulated day (or hour), and the Sforce-Limit-Info header."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from simulator.clock import SimClock

DEFAULT_MAXIMA: dict[str, int] = {
    "DailyApiRequests": 100_000,
    "SingleEmail": 5_000,
    "MassEmail": 5_000,
    "DailyWorkflowEmails": 2_000,
    "DailyBulkApiBatches": 15_000,
    "DailyBulkV2QueryJobs": 10_000,
    "DailyAsyncApexExecutions": 250_000,
    "DailyStreamingApiEvents": 1_000_000,
    "DailyDeliveredPlatformEvents": 50_000,
    "HourlyPublishedPlatformEvents": 250_000,
    "HourlyODataCallout": 20_000,
    "MonthlyPlatformEventsUsageEntitlement": 1_500_000,
    "DataStorageMB": 1_024,
    "FileStorageMB": 10_240,
}
API_REQUESTS = "DailyApiRequests"
# Not consumed by requests; Remaining is computed from what the org stores.
STORAGE_LIMITS = frozenset({"DataStorageMB", "FileStorageMB"})


def _period(name: str, moment: datetime) -> str:
    if name.startswith("Hourly"):
        return moment.strftime("%Y-%m-%dT%H")
    if name.startswith("Monthly"):
        return moment.strftime("%Y-%m")
    return moment.strftime("%Y-%m-%d")


class Limits:
    """Usage counters that roll over with the simulator clock's day (hour, month)."""

    def __init__(self, clock: SimClock, maxima: dict[str, int]) -> None:
        self._clock = clock
        self._defaults = dict(maxima)
        self._maxima = dict(maxima)
        self._used: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def _current(self, name: str) -> int:
        period, used = self._used.get(name, ("", 0))
        return used if period == _period(name, self._clock.now()) else 0

    def used(self, name: str) -> int:
        """Units used in the current period."""
        with self._lock:
            return self._current(name)

    def maximum(self, name: str) -> int:
        """The allowance per period."""
        with self._lock:
            return self._maxima.get(name, 0)

    def set_max(self, name: str, maximum: int) -> None:
        """Change an allowance (admin)."""
        with self._lock:
            self._maxima[name] = maximum

    def try_consume(self, name: str, units: int = 1) -> bool:
        """Use units if the allowance has room; False (and nothing used) when it has not."""
        with self._lock:
            used = self._current(name)
            if used + units > self._maxima.get(name, 0):
                return False
            self._used[name] = (_period(name, self._clock.now()), used + units)
            return True

    def api_usage_header(self) -> str:
        """The Sforce-Limit-Info value."""
        with self._lock:
            return f"api-usage={self._current(API_REQUESTS)}/{self._maxima.get(API_REQUESTS, 0)}"

    def snapshot(self, storage_used_mb: int = 0) -> dict[str, dict[str, Any]]:
        """The /limits document: each limit's Max and Remaining."""
        with self._lock:
            result = {}
            for name, maximum in sorted(self._maxima.items()):
                used = storage_used_mb if name == "DataStorageMB" else self._current(name)
                result[name] = {"Max": maximum, "Remaining": max(maximum - used, 0)}
            return result

    def reset(self) -> None:
        """Forget usage and restore the configured maxima."""
        with self._lock:
            self._used.clear()
            self._maxima = dict(self._defaults)
