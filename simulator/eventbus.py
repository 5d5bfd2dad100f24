"""The org's change event bus as subscribers see it: channels, replay positions and retention.

Every change log entry is one event at the entry's position, which is the replay id. On the
Pub/Sub wire a replay id is 10 bytes (the position as an 8-byte big-endian number, then `00 00`,
as real servers send); 8-byte ids, which sample clients build, are accepted too. CometD shows the
position as an integer.

Retention follows the simulator clock: events committed more than `retention_hours` ago (72 by
default) or before an injected expiry moment are gone. A replay id is accepted when resuming
after it loses nothing and it names a retained event, the stream's start or the stream's tip.
Gap and overflow events are injected through the change log, so they take a position like any
other change.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime

from simulator.cdc_schema import CDC_ENTITIES, topic_entities
from simulator.changelog import ChangeEntry, PendingChange
from simulator.clock import epoch_ms
from simulator.ids import KEY_PREFIXES, to_18
from simulator.org import Org

REPLAY_ID_SUFFIX = b"\x00\x00"
GAP_TYPES = frozenset({"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"})
SCAN_BATCH = 500
MIN_SCAN_BATCH = 50
_EVENT_NAMESPACE = uuid.UUID("5f1b2c1e-6f38-4a53-9d0e-6c1f0e1d2a77")


def encode_replay_id(position: int) -> bytes:
    """The 10-byte replay id of a position."""
    return position.to_bytes(8, "big") + REPLAY_ID_SUFFIX


def decode_replay_id(raw: bytes) -> int | None:
    """The position in a replay id (10 bytes ending 00 00, or 8 bytes), or None when malformed."""
    if len(raw) == 10 and raw.endswith(REPLAY_ID_SUFFIX):
        return int.from_bytes(raw[:8], "big")
    if len(raw) == 8:
        return int.from_bytes(raw, "big")
    return None


class EventBus:
    """Reads the change log per channel, applies retention, validates and injects events."""

    def __init__(self, org: Org, retention_hours: float = 72.0) -> None:
        self.org = org
        self.retention_hours = retention_hours
        self._expired_before_ms = 0
        self._lock = threading.Lock()

    @property
    def latest_position(self) -> int:
        """The newest event's position (the tip of every channel)."""
        return int(self.org.changelog.latest_position)

    def event_uuid(self, entry: ChangeEntry) -> str:
        """The event's id: stable, so a replayed event keeps the id it was first sent with."""
        return str(uuid.uuid5(_EVENT_NAMESPACE, f"{self.org.identity.org_id}:{entry.position}"))

    def read(self, topic: str, since: int, limit: int) -> tuple[list[ChangeEntry], int]:
        """Up to `limit` events of a channel after `since`, and the position scanned up to."""
        if limit <= 0:
            return [], since
        entities = topic_entities(topic) or ()
        committed = self.latest_position
        found: list[ChangeEntry] = []
        scanned = since
        # Small requests read small batches: rows read past the limit are decoded for nothing.
        size = min(SCAN_BATCH, max(limit, MIN_SCAN_BATCH))
        while len(found) < limit:
            batch = self.org.changelog.read(scanned, size)
            for entry in batch:
                if entry.entity in entities:
                    found.append(entry)
                scanned = entry.position
                if len(found) == limit:
                    return found, scanned
            if len(batch) < size:
                break
        # Every entry committed before the scan began has been looked at, even where a reset
        # left no entry to see.
        return found, max(scanned, committed)

    def wait(self, since: int, timeout: float) -> bool:
        """Block until an event after `since` is committed; False when the timeout passes."""
        return bool(self.org.changelog.wait(since, timeout))

    def cutoff_ms(self) -> int:
        """Events committed before this moment (epoch ms, simulator clock) are no longer kept."""
        window = int(self.retention_hours * 3_600_000)
        with self._lock:
            floor = self._expired_before_ms
        return max(epoch_ms(self.org.clock.now()) - window, floor)

    def expire_before(self, moment: datetime | None = None) -> int:
        """Drop every event committed before a moment (now by default); returns the new cutoff."""
        with self._lock:
            self._expired_before_ms = epoch_ms(moment or self.org.clock.now())
        return self.cutoff_ms()

    def _entry_at(self, position: int) -> ChangeEntry | None:
        entries = self.org.changelog.read(position - 1, 1)
        return entries[0] if entries and entries[0].position == position else None

    def oldest_retained(self) -> int:
        """The position of the oldest retained event (latest + 1 when none is retained)."""
        latest = self.latest_position
        first = self.org.changelog.read(0, 1)
        if not first:
            return latest + 1
        cutoff = self.cutoff_ms()
        low, high = first[0].position, latest + 1
        # Positions in the log are contiguous and commit times do not decrease along them.
        while low < high:
            middle = (low + high) // 2
            entry = self._entry_at(middle)
            if entry is not None and entry.commit_timestamp >= cutoff:
                high = middle
            else:
                low = middle + 1
        return low

    def earliest_position(self) -> int:
        """Where EARLIEST (CometD -2) starts: just before the oldest retained event."""
        return self.oldest_retained() - 1

    def valid_replay_position(self, position: int) -> bool:
        """Whether a subscriber may resume after this position."""
        latest = self.latest_position
        if position < 0 or position > latest:
            return False
        if position == latest:
            return True
        oldest = self.oldest_retained()
        if position >= oldest:
            return True
        # Position 0 names no event; it is the start of a stream that has not lost any yet.
        return position == oldest - 1 == 0

    def _inject(self, entity: str, change_type: str, record_ids: Sequence[str]) -> ChangeEntry:
        user_id = str(self.org.identity.integration_user_id)
        # Holding the store lock keeps other commits out, so the entry after `before` is ours.
        with self.org.store.lock:
            before = self.latest_position
            # Gap events come from changes the API did not make, so they carry no change origin.
            with self.org.transaction(user_id, "") as txn:
                for record_id in record_ids:
                    txn.record(PendingChange(entity, record_id, change_type))
            (entry,) = self.org.changelog.read(before, 1)
        return entry

    def inject_gap(self, entity: str, change_type: str, record_ids: Sequence[str]) -> ChangeEntry:
        """Emit one gap event (header only) naming records of an object."""
        if change_type not in GAP_TYPES:
            raise ValueError(f"change_type must be one of {sorted(GAP_TYPES)}")
        _check_entity(entity)
        if not record_ids:
            raise ValueError("a gap event names at least one record id")
        ids = []
        for raw in record_ids:
            record_id = to_18(str(raw))
            if record_id is None or record_id[:3] != KEY_PREFIXES[entity]:
                raise ValueError(f"{raw!r} is not an id of a {entity} record")
            ids.append(record_id)
        return self._inject(entity, change_type, ids)

    def inject_overflow(self, entity: str) -> ChangeEntry:
        """Emit a GAP_OVERFLOW event for an object: header only, no record ids."""
        _check_entity(entity)
        # The log keys every change by a record id; an empty one stands for "no record".
        return self._inject(entity, "GAP_OVERFLOW", [""])


def _check_entity(entity: str) -> None:
    if entity not in CDC_ENTITIES:
        raise ValueError(f"entity must be one of {list(CDC_ENTITIES)}")
