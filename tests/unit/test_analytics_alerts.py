"""Alert checks, their deduplication and cooldown, and where they are sent."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import requests

from analytics.alerts import (
    Alert,
    AlertBook,
    AlertFacts,
    AlertNotifier,
    ListenerProbe,
    evaluate_alerts,
)
from analytics.jobs import check_alerts
from analytics.sweeper import FindingsStore
from analytics.testing import synthetic_records
from shared.dead_letter import DeadLetterStream
from shared.flywheel.local import LocalStore
from shared.salesforce import FakeSalesforce, SalesforceAuthError
from shared.settings import AlertSettings, LeadfleetSettings

NOW = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
SETTINGS = AlertSettings()
SECRET_HOOK = "https://hooks.example/services/T000/B000/very-secret-token"

READY = ListenerProbe(reachable=True, ready=True)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (AlertFacts(listener=READY), []),
        (AlertFacts(listener=ListenerProbe(True, False, ("stream /data/LeadChangeEvent: not connected",))),
         ["cdc_disconnected"]),
        (AlertFacts(listener=ListenerProbe(False, False, ("no answer",))), ["cdc_disconnected"]),
        (AlertFacts(auth_error="invalid_grant: user hasn't approved this consumer"), ["auth_failure"]),
        (AlertFacts(api_used=79_999, api_max=100_000), []),
        (AlertFacts(api_used=80_000, api_max=100_000), ["api_usage"]),
        (AlertFacts(slow_responses=[("00QA", 60.0)]), []),
        (AlertFacts(slow_responses=[("00QA", 61.0)]), ["ttfr_breach"]),
        (AlertFacts(unanswered=[("00QB", 240.0)]), ["ttfr_breach"]),
        (AlertFacts(low_confidence=[("00QC", 0.5)]), []),
        (AlertFacts(low_confidence=[("00QC", 0.49), ("00QD", 0.2)]), ["low_confidence"]),
        (AlertFacts(template_failures=["lead 00QE: fill failed"]), ["template_failures"]),
        (AlertFacts(dead_letters=4, dead_letters_before=4), []),
        (AlertFacts(dead_letters=5, dead_letters_before=4), ["dead_letter_growth"]),
        (AlertFacts(dead_letters=5, dead_letters_before=None), []),
    ],
    ids=[
        "all-quiet", "stream-disconnected", "listener-silent", "auth-failed", "api-79pct",
        "api-80pct", "ttfr-exactly-60", "ttfr-61", "enterprise-unanswered", "confidence-0.5",
        "confidence-under-0.5", "template-failed", "dead-letters-flat", "dead-letters-grew",
        "dead-letters-first-look",
    ],
)  # fmt: skip
def test_evaluate_alerts(facts: AlertFacts, expected: list[str]) -> None:
    """Each condition alerts exactly past its threshold."""
    assert [a.kind for a in evaluate_alerts(facts, SETTINGS, now=NOW)] == expected


def test_api_usage_severity_and_one_alert_per_slow_lead() -> None:
    """Usage at the allowance is critical; each slow Enterprise lead is its own alert key."""
    full = evaluate_alerts(AlertFacts(api_used=100_000, api_max=100_000), SETTINGS, now=NOW)
    assert [a.severity for a in full] == ["critical"]
    slow = evaluate_alerts(
        AlertFacts(slow_responses=[("00QA", 90), ("00QB", 95)]), SETTINGS, now=NOW
    )
    assert [a.key for a in slow] == ["ttfr_breach:00QA", "ttfr_breach:00QB"]


def alert(key: str, kind: Any = "low_confidence") -> Alert:
    return Alert(key=key, kind=kind, severity="warning", message=key, raised_at=NOW)


def test_cooldown_admits_a_key_once() -> None:
    """An alert key is sent once per cooldown; other keys are unaffected."""
    redis = fakeredis.FakeRedis()
    book = AlertBook(redis, "t", cooldown_seconds=900)
    assert [a.key for a in book.admit([alert("a"), alert("b")])] == ["a", "b"]
    assert [a.key for a in book.admit([alert("a"), alert("c")])] == ["c"]
    assert 0 < redis.ttl("t:alerts:sent:a") <= 900


def test_open_alerts_resolve_when_their_check_passes() -> None:
    """A check that no longer finds an alert closes it; kinds it did not check stay open."""
    book = AlertBook(fakeredis.FakeRedis(), "t", cooldown_seconds=900)
    book.record_open([alert("low", "low_confidence"), alert("sla:1", "sla_unanswered")],
                     checked=["low_confidence", "sla_unanswered"])  # fmt: skip
    book.record_open([], checked=["low_confidence"])
    assert [a.key for a in book.open_alerts()] == ["sla:1"]


class FakeSession:
    """Answers GET /readyz as told and records webhook posts (or fails them)."""

    def __init__(self, *, ready: bool = True, webhook_error: bool = False) -> None:
        self.ready = ready
        self.webhook_error = webhook_error
        self.posts: list[dict[str, Any]] = []

    def get(self, url: str, *, timeout: float) -> Any:
        body = (
            {"status": "ready", "failing": []}
            if self.ready
            else {"status": "not ready", "failing": ["stream /data/LeadChangeEvent: not connected"]}
        )
        return type(
            "Response", (), {"status_code": 200 if self.ready else 503, "json": lambda _: body}
        )()

    def post(self, url: str, *, json: dict[str, Any], timeout: float) -> Any:
        if self.webhook_error:
            raise requests.ConnectTimeout(f"timed out posting to {url}")
        self.posts.append({"url": url, "json": json, "timeout": timeout})
        return type("Response", (), {"status_code": 200})()


def test_webhook_gets_slack_json_with_a_timeout() -> None:
    """Alerts go out as one {"text": ...} post with the configured timeout."""
    session = FakeSession()
    notifier = AlertNotifier(
        AlertSettings(webhook_url=SECRET_HOOK, webhook_timeout_seconds=2.5), http=session
    )  # type: ignore[arg-type]
    assert notifier.send([alert("a"), alert("b")]) is True
    [post] = session.posts
    assert set(post["json"]) == {"text"} and "a" in post["json"]["text"]
    assert post["timeout"] == 2.5


def test_failed_webhook_is_logged_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable webhook returns False and logs, and the secret URL is in no log line."""
    notifier = AlertNotifier(
        AlertSettings(webhook_url=SECRET_HOOK), http=FakeSession(webhook_error=True)
    )  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO):
        assert notifier.send([alert("a")]) is False
    assert "alert webhook failed" in caplog.text
    assert "very-secret-token" not in caplog.text
    assert "very-secret-token" not in repr(AlertSettings(webhook_url=SECRET_HOOK))


def write_records(folder: Path, records: list[dict[str, Any]]) -> None:
    store = LocalStore(folder)
    by_workload: dict[tuple[str, date], list[str]] = {}
    for record in records:
        day = date.fromisoformat(record["timestamp"][:10])
        by_workload.setdefault((record["workload_id"], day), []).append(json.dumps(record))
    for (workload, day), lines in by_workload.items():
        store.write(workload, day, lines)


def test_check_alerts_gathers_facts_and_sends_each_once(tmp_path: Path) -> None:
    """From records, findings, dead letters, limits and /readyz: the alerts sent, then none again."""
    records = list(synthetic_records(1500, day=NOW.date(), seed=4))
    write_records(tmp_path / "flywheel", records)
    redis = fakeredis.FakeRedis()
    settings = LeadfleetSettings(
        flywheel={"sink": "local", "local_dir": tmp_path / "flywheel"},
        alerts={"webhook_url": SECRET_HOOK, "window_minutes": 12 * 60},
        redis={"key_prefix": "t"},
    )
    org = FakeSalesforce(start=NOW, daily_api_limit=10)
    for _ in range(9):
        org.active_user_ids([])
    dead = DeadLetterStream(redis, "t")
    FindingsStore(redis, "t").replace([])
    session = FakeSession(ready=False)

    def run() -> list[Alert]:
        return check_alerts(settings, salesforce=org, redis=redis, dead_letters=dead,
                            clock=lambda: NOW, http=session)  # type: ignore[arg-type]  # fmt: skip

    first = run()
    kinds = {a.kind for a in first}
    assert {"cdc_disconnected", "api_usage", "low_confidence", "ttfr_breach"} <= kinds
    assert "dead_letter_growth" not in kinds  # the first look has nothing to compare with
    dead.add("worker", "TemplateFillError: no value", {"event_id": "e"}, task="outreach.template_suggest",
             first_seen=NOW - timedelta(minutes=5))  # fmt: skip
    second = run()
    assert {a.kind for a in second} == {"dead_letter_growth", "template_failures"}
    open_kinds = {a.kind for a in AlertBook(redis, "t", cooldown_seconds=1).open_alerts()}
    assert {"cdc_disconnected", "dead_letter_growth"} <= open_kinds


def test_check_alerts_reports_authentication_failure(tmp_path: Path) -> None:
    """A rejected login is an alert, not a crash of the checks."""
    settings = LeadfleetSettings(
        flywheel={"sink": "local", "local_dir": tmp_path}, redis={"key_prefix": "t"}
    )
    org = FakeSalesforce(start=NOW)
    org.fail_next(
        "limits", SalesforceAuthError("invalid_grant: expired access/refresh token", status=400)
    )
    redis = fakeredis.FakeRedis()
    sent = check_alerts(settings, salesforce=org, redis=redis, dead_letters=DeadLetterStream(redis, "t"),
                        clock=lambda: NOW, http=FakeSession())  # type: ignore[arg-type]  # fmt: skip
    assert [a.kind for a in sent] == ["auth_failure"]
