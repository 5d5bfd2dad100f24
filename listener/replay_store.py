"""Where each topic's subscription resumes: the replay checkpoint in Redis, and which id is safe.

A checkpoint moves only past events whose messages are durably enqueued, so a crash can
repeat events (workers are idempotent) but never skip one. Replay ids are opaque bytes
(Salesforce's are 10 bytes) and are never compared or computed, only stored and sent back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A stored replay id and when it was stored (the start of a reconcile window if it expires)."""

    replay_id: bytes
    committed_at: datetime


class ReplayStore:
    """Replay checkpoints, one Redis hash per topic at ``<prefix>:replay:<topic>``."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def key(self, topic: str) -> str:
        """The Redis key holding a topic's checkpoint."""
        return f"{self._prefix}:replay:{topic}"

    def get(self, topic: str) -> bytes | None:
        """The replay id to resume the topic after, or None when none was stored."""
        checkpoint = self.checkpoint(topic)
        return None if checkpoint is None else checkpoint.replay_id

    def checkpoint(self, topic: str) -> Checkpoint | None:
        """The stored checkpoint with its time, or None when none was stored."""
        stored = self._redis.hgetall(self.key(topic))
        values = {_text(k): _text(v) for k, v in stored.items()}
        if "replay_id" not in values:
            return None
        committed_at = datetime.fromisoformat(values.get("committed_at") or _EPOCH_ISO)
        return Checkpoint(bytes.fromhex(values["replay_id"]), committed_at)

    def commit(self, topic: str, replay_id: bytes, *, committed_at: datetime | None = None) -> None:
        """Store the replay id to resume the topic after; committed_at defaults to now."""
        when = committed_at or datetime.now(UTC)
        # Hex keeps the value readable in redis-cli and safe for clients that decode responses.
        self._redis.hset(
            self.key(topic),
            mapping={"replay_id": replay_id.hex(), "committed_at": when.isoformat()},
        )

    def clear(self, topic: str) -> None:
        """Forget the topic's checkpoint, so the next subscription starts from the tip."""
        self._redis.delete(self.key(topic))


_EPOCH_ISO = "1970-01-01T00:00:00+00:00"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


@dataclass(slots=True)
class _Arrival:
    replay_id: bytes
    enqueued: bool


class CheckpointTracker:
    """The newest replay id whose event, and every event before it, is durably enqueued.

    Events are reported in arrival order (`received`) and acknowledged in any order
    (`enqueued`). A keepalive's latest replay id takes its place in the arrival order already
    acknowledged: every event before it has arrived, so it becomes safe as soon as they are
    enqueued, and at once when nothing is outstanding.
    """

    def __init__(self, start: bytes | None = None) -> None:
        self._arrivals: deque[_Arrival] = deque()
        self._pending: dict[bytes, _Arrival] = {}
        self._safe = start
        self._taken = start

    @property
    def outstanding(self) -> int:
        """Events received and not yet enqueued."""
        return len(self._pending)

    @property
    def safe(self) -> bytes | None:
        """The replay id it is safe to resume after (the start id until something is safe)."""
        return self._safe

    def received(self, replay_id: bytes) -> None:
        """An event arrived; it is outstanding until `enqueued`."""
        if replay_id in self._pending:
            raise ValueError(f"replay id {replay_id.hex()} is already outstanding")
        arrival = _Arrival(replay_id, enqueued=False)
        self._arrivals.append(arrival)
        self._pending[replay_id] = arrival

    def enqueued(self, replay_id: bytes) -> None:
        """Every message of the event with this replay id is durably enqueued."""
        arrival = self._pending.pop(replay_id, None)
        if arrival is None:
            raise ValueError(f"replay id {replay_id.hex()} is not outstanding")
        arrival.enqueued = True
        self._advance()

    def keepalive(self, latest_replay_id: bytes) -> None:
        """An empty FetchResponse carried this latest replay id."""
        if not latest_replay_id:
            return
        self._arrivals.append(_Arrival(latest_replay_id, enqueued=True))
        self._advance()

    def take(self) -> bytes | None:
        """The safe replay id if it moved since the last take, else None: what to commit now."""
        if self._safe == self._taken:
            return None
        self._taken = self._safe
        return self._safe

    def _advance(self) -> None:
        while self._arrivals and self._arrivals[0].enqueued:
            self._safe = self._arrivals.popleft().replay_id
