"""Redis keys that make at-least-once delivery safe: route claims, send claims and lead leases.

Celery on Redis and Change Data Capture both deliver at least once, and a redelivered message
can run while the first delivery is still running. Each workload therefore claims its lead:

- Route claim ``<prefix>:route:<lead>``: ``claimed:<token>`` with a lease (SET NX PX) while a
  run decides and writes, ``done:<owner>`` (long TTL) once the owner is written. A run that
  fails releases its own claim (compare-and-delete), so its retry can claim at once; a run
  that dies leaves the claim to lapse with its lease.
- Send claim ``<prefix>:send:<lead>``: ``{"state": "sending", ...}`` taken BEFORE an email is
  sent (SET NX, long TTL), ``{"state": "sent"}`` after. A claim is never taken twice; a
  ``sending`` claim left by a crash is only ever taken over through ``take_over``, which the
  template workload calls after proving from Salesforce that no email went out.
- Lease ``<prefix>:lease:<name>:<lead>``: a short mutual exclusion (first-touch runs for one
  lead), released by its holder or lapsing on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis
from redis.exceptions import WatchError

from shared.errors import RetryableError

__all__ = [
    "ClaimBusyError",
    "ClaimState",
    "Leases",
    "RouteClaim",
    "RouteClaims",
    "SendClaim",
    "SendClaims",
]

_MIN_WAIT_SECONDS = 0.2


class ClaimBusyError(RetryableError):
    """Another run holds the lead right now; try again after retry_after seconds."""

    def __init__(self, what: str, retry_after: float) -> None:
        self.retry_after = max(retry_after, _MIN_WAIT_SECONDS)
        super().__init__(f"{what} is held by another run; retry in {self.retry_after:.1f} s")


class ClaimState(StrEnum):
    """What a claim attempt found."""

    ACQUIRED = "acquired"
    DONE = "done"
    BUSY = "busy"


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    return raw if isinstance(raw, str) else None


def _compare_and_delete(redis: Redis, key: str, expected: str) -> bool:
    """Delete key only while it still holds expected (WATCH makes the check and delete atomic)."""
    with redis.pipeline() as pipe:
        try:
            pipe.watch(key)  # type: ignore[no-untyped-call]
            if _text(pipe.get(key)) != expected:
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.delete(key)
            pipe.execute()
            return True
        except WatchError:
            return False


@dataclass(frozen=True)
class RouteClaim:
    """The result of claiming a lead for routing."""

    state: ClaimState
    owner: str | None = None
    retry_after: float = 0.0


class RouteClaims:
    """Routed-once keys: claim with a lease, mark done with the owner, release on failure."""

    def __init__(
        self, redis: Redis, prefix: str, *, lease_seconds: int, done_ttl_seconds: int
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = lease_seconds * 1000
        self._done_ttl = done_ttl_seconds

    def key(self, lead_id: str) -> str:
        """The claim key of a lead."""
        return f"{self._prefix}:route:{lead_id}"

    def claim(self, lead_id: str, token: str) -> RouteClaim:
        """Take the lead for this run, or say it is routed already or held by a live run."""
        key = self.key(lead_id)
        if self._redis.set(key, f"claimed:{token}", nx=True, px=self._lease_ms):
            return RouteClaim(ClaimState.ACQUIRED)
        value = _text(self._redis.get(key))
        if value is None:
            # Released or lapsed between the two commands: the caller simply tries again soon.
            return RouteClaim(ClaimState.BUSY, retry_after=_MIN_WAIT_SECONDS)
        if value.startswith("done:"):
            return RouteClaim(ClaimState.DONE, owner=value.removeprefix("done:"))
        ttl_ms = self._redis.pttl(key)
        wait = ttl_ms / 1000 if isinstance(ttl_ms, int) and ttl_ms > 0 else _MIN_WAIT_SECONDS
        return RouteClaim(ClaimState.BUSY, retry_after=wait)

    def mark_done(self, lead_id: str, owner: str) -> None:
        """Remember the lead as routed to owner."""
        self._redis.set(self.key(lead_id), f"done:{owner}", ex=self._done_ttl)

    def release(self, lead_id: str, token: str) -> bool:
        """Give the lead back after a failed run, only while this run still holds it."""
        return _compare_and_delete(self._redis, self.key(lead_id), f"claimed:{token}")


@dataclass(frozen=True)
class SendClaim:
    """The result of claiming a lead's email send."""

    state: ClaimState
    # For a claim held by another run: its stored value (for take_over) and age in seconds.
    held: str | None = None
    age_seconds: float = 0.0


class SendClaims:
    """At most one email per lead: a claim taken before the send and never taken twice."""

    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def key(self, lead_id: str) -> str:
        """The send claim key of a lead."""
        return f"{self._prefix}:send:{lead_id}"

    @staticmethod
    def _sending(token: str, now: float) -> str:
        return json.dumps({"state": "sending", "token": token, "at": now})

    def claim(self, lead_id: str, token: str, now: float) -> SendClaim:
        """Claim the send for this run; DONE when sent, BUSY with the holder's value otherwise."""
        key = self.key(lead_id)
        if self._redis.set(key, self._sending(token, now), nx=True, ex=self._ttl):
            return SendClaim(ClaimState.ACQUIRED)
        value = _text(self._redis.get(key))
        if value is None:
            return SendClaim(ClaimState.BUSY, held=None, age_seconds=0.0)
        try:
            record = json.loads(value)
        except ValueError:
            record = {}
        if record.get("state") == "sent":
            return SendClaim(ClaimState.DONE, held=value)
        at = record.get("at")
        age = now - float(at) if isinstance(at, int | float) else float("inf")
        return SendClaim(ClaimState.BUSY, held=value, age_seconds=max(age, 0.0))

    def take_over(self, lead_id: str, held: str, token: str, now: float) -> bool:
        """Replace a dead run's claim with this run's, only if it is still exactly `held`."""
        key = self.key(lead_id)
        with self._redis.pipeline() as pipe:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                if _text(pipe.get(key)) != held:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.set(key, self._sending(token, now), ex=self._ttl)
                pipe.execute()
                return True
            except WatchError:
                return False

    def mark_sent(self, lead_id: str, now: float) -> None:
        """Record the email as sent: no run sends to this lead again."""
        self._redis.set(self.key(lead_id), json.dumps({"state": "sent", "at": now}), ex=self._ttl)

    def release(self, lead_id: str, token: str, held_value: str | None = None) -> bool:
        """Drop this run's claim after a send Salesforce definitely refused (nothing went out)."""
        key = self.key(lead_id)
        value = _text(self._redis.get(key))
        if value is None:
            return False
        try:
            record = json.loads(value)
        except ValueError:
            return False
        if record.get("state") != "sending" or record.get("token") != token:
            return False
        return _compare_and_delete(self._redis, key, held_value or value)


class Leases:
    """Short per-lead mutual exclusion for one kind of work."""

    def __init__(self, redis: Redis, prefix: str, name: str, *, seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:lease:{name}"
        self._ms = seconds * 1000

    def acquire(self, lead_id: str, token: str) -> float | None:
        """Hold the lead; None when held now, else the seconds until the holder's lease lapses."""
        key = f"{self._prefix}:{lead_id}"
        if self._redis.set(key, token, nx=True, px=self._ms):
            return None
        ttl_ms = self._redis.pttl(key)
        return ttl_ms / 1000 if isinstance(ttl_ms, int) and ttl_ms > 0 else _MIN_WAIT_SECONDS

    def release(self, lead_id: str, token: str) -> bool:
        """Let go of the lead if this holder still has it."""
        return _compare_and_delete(self._redis, f"{self._prefix}:{lead_id}", token)
