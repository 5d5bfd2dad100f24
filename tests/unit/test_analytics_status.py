"""`leadfleet status` reads the fleet's state from Redis and the listener, never a secret."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
from typer.testing import CliRunner

from analytics.alerts import Alert, AlertBook
from analytics.status import gather_status
from shared.dead_letter import DeadLetterStream
from shared.salesforce.auth import AccessToken
from shared.settings import LeadfleetSettings

NOW = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)


class Readyz:
    """Answers /readyz as not ready."""

    def get(self, url: str, *, timeout: float) -> Any:
        body = {"status": "not ready", "failing": ["redis: unreachable"]}
        return type("Response", (), {"status_code": 503, "json": lambda _: body})()


def test_status_reads_queues_checkpoints_token_usage_and_alerts() -> None:
    """Every fact comes from the fleet's keys; the token's value is never part of the status."""
    redis = fakeredis.FakeRedis()
    settings = LeadfleetSettings(redis={"key_prefix": "t"}, salesforce={"username": "int@acme"})
    redis.rpush("lead.route", "m1", "m2")
    redis.rpush("lead.route\x06\x169", "m3")
    redis.hset("unacked", "tag", "m")
    committed = (NOW - timedelta(seconds=42)).isoformat()
    redis.hset(
        "t:replay:/data/LeadChangeEvent", mapping={"replay_id": "00ff", "committed_at": committed}
    )
    token = AccessToken(access_token="00Dx!SECRET-TOKEN", instance_url="https://acme.my.salesforce.com",
                        issued_at=NOW, expires_at=NOW + timedelta(hours=1))  # fmt: skip
    redis.set("t:salesforce:token", token.to_cache())
    redis.set(
        "t:ratelimit:salesforce:int@acme:api_usage",
        json.dumps({"used": 850, "max": 1000, "at": NOW.timestamp()}),
    )
    DeadLetterStream(redis, "t").add("worker", "boom", {"a": 1}, task="lead.route", first_seen=NOW)
    AlertBook(redis, "t", cooldown_seconds=60).record_open(
        [
            Alert(
                key="api_usage", kind="api_usage", severity="warning", message="85%", raised_at=NOW
            )
        ],
        checked=["api_usage"],
    )

    status = gather_status(settings, redis, now=NOW, http=Readyz())  # type: ignore[arg-type]

    assert (status.listener.reachable, status.listener.ready) == (True, False)
    assert status.queues["lead.route"] == 3 and status.queues["analytics"] == 0
    assert status.unacked == 1 and status.dead_letters == 1
    assert [(c.topic, c.age_seconds) for c in status.checkpoints] == [
        ("/data/LeadChangeEvent", 42.0)
    ]
    assert (status.token_valid, status.token_expires_at) == (True, NOW + timedelta(hours=1))
    assert (status.api_used, status.api_max) == (850, 1000)
    assert [a.kind for a in status.alerts] == ["api_usage"]
    assert "SECRET-TOKEN" not in json.dumps(status.as_json())


def test_status_command_exits_non_zero_when_unhealthy(monkeypatch: Any) -> None:
    """With no listener and no Redis, status says so and exits 1 instead of crashing."""
    from cli.main import app
    from shared.settings import get_settings

    monkeypatch.setenv("LEADFLEET_REDIS__URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("LEADFLEET_LISTENER__HTTP_PORT", "1")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["status", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    shown = json.loads(result.output)
    assert shown["listener"]["reachable"] is False
    assert shown["error"].startswith("Redis unavailable")
