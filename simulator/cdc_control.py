"""Controls of the change event stream for tests and demos: gaps, overflows, faults, retention.

One object behind the Python API (`Simulator.cdc`, `SimulatorHandle`) and the admin routes, so
both do exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from simulator.changelog import ChangeEntry
from simulator.eventbus import EventBus, encode_replay_id
from simulator.fieldvalues import parse_datetime
from simulator.pubsub_server import PubSubService, SubscribeFaults


class CdcControl:
    """Inject events and faults into the running simulator's change event stream."""

    def __init__(self, bus: EventBus, service: PubSubService, faults: SubscribeFaults) -> None:
        self.bus = bus
        self._service = service
        self._faults = faults

    def inject_gap(self, entity: str, change_type: str, record_ids: Sequence[str]) -> ChangeEntry:
        """Emit a GAP_CREATE / GAP_UPDATE / GAP_DELETE / GAP_UNDELETE event for records."""
        return self.bus.inject_gap(entity, change_type, record_ids)

    def inject_overflow(self, entity: str) -> ChangeEntry:
        """Emit a GAP_OVERFLOW event for an object (no record ids, no fields)."""
        return self.bus.inject_overflow(entity)

    def fail_subscribes(self, count: int = 1) -> int:
        """Answer the next `count` Subscribe calls with UNAVAILABLE service.unavailable."""
        return self._faults.fail_next(count)

    def drop_streams(self) -> int:
        """Cut every open Subscribe call, as a lost connection would; returns how many."""
        return self._service.drop_streams()

    def expire_events(self, before: datetime | None = None) -> int:
        """Take every event committed before a moment (now by default) out of retention."""
        return self.bus.expire_before(before)

    def state(self) -> dict[str, Any]:
        """Positions, retention and faults of the stream (admin)."""
        latest = self.bus.latest_position
        return {
            "latest_position": latest,
            "latest_replay_id": encode_replay_id(latest).hex(),
            "oldest_retained_position": self.bus.oldest_retained(),
            "retention_hours": self.bus.retention_hours,
            "retention_cutoff_ms": self.bus.cutoff_ms(),
            "open_streams": self._service.open_streams,
            "subscribe_failures_pending": self._faults.remaining,
        }


def entry_json(entry: ChangeEntry) -> dict[str, Any]:
    """An injected event as the admin API reports it."""
    return {
        **entry.to_json(),
        "replayId": entry.position,
        "replay_id_hex": encode_replay_id(entry.position).hex(),
    }


def parse_moment(value: object) -> datetime | None:
    """An optional ISO 8601 moment from an admin request body."""
    return None if value is None else parse_datetime(str(value))
