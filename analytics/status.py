"""What `leadfleet status` shows, read from the listener's /readyz and the fleet's Redis keys.

Reading only: the listener's readiness and replay checkpoints, queue depths (each Celery queue
list, its priority sub-lists and the messages held unacknowledged), the dead-letter stream, the
cached Salesforce token's expiry (never the token), the org's API usage as the fleet last
recorded it, the beat lock, the sweeper's open findings and the open alerts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from redis import Redis
from redis.exceptions import RedisError

from analytics.alerts import Alert, AlertBook, ListenerProbe
from analytics.jobs import listener_url, probe_listener
from analytics.sweeper import FindingsStore
from shared.dead_letter import DeadLetterStream
from shared.messages import QUEUES
from shared.salesforce.auth import AccessToken
from shared.settings import LeadfleetSettings

__all__ = ["Checkpoint", "FleetStatus", "gather_status"]

# Celery's Redis transport keeps priorities 3, 6 and 9 in sibling lists of the queue.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass(frozen=True)
class Checkpoint:
    """A topic's stored replay checkpoint and how old it is."""

    topic: str
    committed_at: datetime
    age_seconds: float


@dataclass
class FleetStatus:
    """One look at the fleet; None where a fact could not be read (error says why)."""

    now: datetime
    listener: ListenerProbe
    listener_url: str
    checkpoints: list[Checkpoint] = field(default_factory=list)
    queues: dict[str, int] = field(default_factory=dict)
    unacked: int | None = None
    dead_letters: int | None = None
    token_expires_at: datetime | None = None
    token_valid: bool | None = None
    api_used: int | None = None
    api_max: int | None = None
    api_recorded_at: datetime | None = None
    beat_lock_ttl_seconds: float | None = None
    unanswered_past_sla: int | None = None
    alerts: list[Alert] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The status as plain JSON."""
        return {
            "now": self.now.isoformat(),
            "listener": {
                "url": self.listener_url,
                "reachable": self.listener.reachable,
                "ready": self.listener.ready,
                "failing": list(self.listener.failing),
                "checkpoints": [
                    {
                        "topic": c.topic,
                        "committed_at": c.committed_at.isoformat(),
                        "age_seconds": round(c.age_seconds, 1),
                    }
                    for c in self.checkpoints
                ],
            },
            "queues": self.queues,
            "unacked": self.unacked,
            "dead_letters": self.dead_letters,
            "token": {
                "valid": self.token_valid,
                "expires_at": self.token_expires_at.isoformat() if self.token_expires_at else None,
            },
            "api_usage": {
                "used": self.api_used,
                "max": self.api_max,
                "recorded_at": self.api_recorded_at.isoformat() if self.api_recorded_at else None,
            },
            "beat_lock_ttl_seconds": self.beat_lock_ttl_seconds,
            "unanswered_past_sla": self.unanswered_past_sla,
            "alerts": [a.model_dump(mode="json") for a in self.alerts],
            "error": self.error,
        }


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _checkpoints(redis: Redis, prefix: str, now: datetime) -> list[Checkpoint]:
    """The listener's checkpoints: hashes ``<prefix>:replay:<topic>`` with committed_at."""
    marker = f"{prefix}:replay:"
    found = []
    for key in sorted(_text(k) for k in redis.scan_iter(match=f"{marker}*", count=500)):
        committed = redis.hget(key, "committed_at")
        if not isinstance(committed, bytes | str):
            continue
        at = datetime.fromisoformat(_text(committed))
        found.append(Checkpoint(key[len(marker) :], at, max((now - at).total_seconds(), 0.0)))
    return found


def _read_redis(status: FleetStatus, settings: LeadfleetSettings, redis: Redis) -> None:
    prefix = settings.redis.key_prefix
    now = status.now
    status.checkpoints = _checkpoints(redis, prefix, now)
    for queue in QUEUES:
        status.queues[queue.value] = sum(
            int(redis.llen(queue.value + suffix)) for suffix in _PRIORITY_SUFFIXES
        )
    status.unacked = int(redis.hlen("unacked"))
    status.dead_letters = DeadLetterStream(redis, prefix).length()
    cached = redis.get(f"{prefix}:salesforce:token")
    token = AccessToken.from_cache(cached) if isinstance(cached, bytes | str) else None
    if token is not None:
        status.token_expires_at = token.expires_at
        status.token_valid = token.is_valid(now)
    else:
        status.token_valid = False
    org = settings.ratelimit.org_key or settings.salesforce.username or "default"
    usage = redis.get(f"{prefix}:ratelimit:salesforce:{org}:api_usage")
    if isinstance(usage, bytes | str):
        recorded = json.loads(usage)
        status.api_used, status.api_max = int(recorded["used"]), int(recorded["max"])
        status.api_recorded_at = datetime.fromtimestamp(float(recorded["at"]), tz=now.tzinfo)
    lock_ttl = redis.pttl(f"{prefix}:redbeat::lock")
    status.beat_lock_ttl_seconds = lock_ttl / 1000 if lock_ttl and lock_ttl > 0 else None
    status.unanswered_past_sla = len(FindingsStore(redis, prefix).all())
    book = AlertBook(redis, prefix, cooldown_seconds=settings.alerts.cooldown_seconds)
    status.alerts = book.open_alerts()


def gather_status(
    settings: LeadfleetSettings,
    redis: Redis,
    *,
    now: datetime,
    http: requests.Session | None = None,
) -> FleetStatus:
    """Read everything status shows; a Redis failure leaves its facts empty and says so."""
    url = listener_url(settings)
    probe = probe_listener(url, timeout=settings.alerts.listener_timeout_seconds, http=http)
    status = FleetStatus(now=now, listener=probe, listener_url=url)
    try:
        _read_redis(status, settings, redis)
    except RedisError as exc:
        status.error = f"Redis unavailable: {type(exc).__name__}"
    return status
