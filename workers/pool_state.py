"""Round-robin pool state in Redis, shared by every worker and updated atomically.

Per pool: ``<prefix>:pool:<key>:total`` (hash member -> leads ever given) and
``<prefix>:pool:<key>:day:<YYYY-MM-DD>`` (hash member -> leads given that UTC day, expiring
after three days). The pick itself is the pure ``pick_pool_member`` inside ``decide_route``:
this store WATCHes the pool's keys, reads the counts, lets the decision pick, and increments
the picked member in a MULTI. If another worker changed the counts in between, EXEC fails and
the pick is made again on the new counts, so concurrent picks never see the same state.

The pick is remembered per lead (``<prefix>:pool:pick:<lead>``) in the same transaction; a
retried run reuses it rather than counting the lead twice or giving it to someone else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from redis import Redis
from redis.exceptions import WatchError

from shared.errors import RetryableError
from shared.models import RoutingDecision
from shared.policy import Pool
from shared.routing import PoolState

__all__ = ["PoolContentionError", "PoolStateStore"]

_MAX_ATTEMPTS = 50
_DAY_TTL_SECONDS = 3 * 86400


class PoolContentionError(RetryableError):
    """The pool's counts kept changing under this pick; try the lead again shortly."""


def _counts(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, int] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        out[name] = int(value)
    return out


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):
        return raw.decode("utf-8")
    return raw if isinstance(raw, str) else None


class PoolStateStore:
    """Picks pool members for leads with counts shared through Redis."""

    def __init__(self, redis: Redis, prefix: str, *, pick_ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._pick_ttl = pick_ttl_seconds

    def state(self, pool_key: str, now: datetime) -> PoolState:
        """The pool's counts as stored now."""
        total, today = self._keys(pool_key, now)
        return PoolState(
            assigned_total=_counts(self._redis.hgetall(total)),
            assigned_today=_counts(self._redis.hgetall(today)),
        )

    def _keys(self, pool_key: str, now: datetime) -> tuple[str, str]:
        base = f"{self._prefix}:pool:{pool_key}"
        return f"{base}:total", f"{base}:day:{now.date().isoformat()}"

    def decide_with_pool(
        self,
        *,
        lead_id: str,
        pool_key: str,
        pool: Pool,
        now: datetime,
        decide: Callable[[PoolState], RoutingDecision],
    ) -> RoutingDecision:
        """Run `decide` on the pool's current counts and count its pick, atomically."""
        total_key, today_key = self._keys(pool_key, now)
        pick_key = f"{self._prefix}:pool:pick:{lead_id}"
        members = {m.id for m in pool.members}
        for _ in range(_MAX_ATTEMPTS):
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(total_key, today_key, pick_key)  # type: ignore[no-untyped-call]
                    state = PoolState(
                        assigned_total=_counts(pipe.hgetall(total_key)),
                        assigned_today=_counts(pipe.hgetall(today_key)),
                    )
                    decision = decide(state)
                    earlier = _text(pipe.get(pick_key))
                    if earlier is not None:
                        pipe.unwatch()
                        earlier_pool, _, earlier_member = earlier.partition("|")
                        if earlier_pool == pool_key and earlier_member in members:
                            return decision.model_copy(
                                update={"owner": earlier_member, "owner_kind": "user"}
                            )
                        return decision
                    if decision.owner not in members:
                        pipe.unwatch()
                        return decision
                    pipe.multi()
                    pipe.hincrby(total_key, decision.owner, 1)
                    pipe.hincrby(today_key, decision.owner, 1)
                    pipe.expire(today_key, _DAY_TTL_SECONDS)
                    pipe.set(pick_key, f"{pool_key}|{decision.owner}", ex=self._pick_ttl)
                    pipe.execute()
                    return decision
                except WatchError:
                    continue
        raise PoolContentionError(f"pool {pool_key}: counts changed on every attempt")
