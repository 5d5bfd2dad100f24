"""The analytics jobs beat schedules and the CLI runs by hand, wired from settings.

Each job gathers (records from the flywheel store, the sweeper's findings and counters from
Redis, the org's limits), hands the facts to the pure parts (analytics.report,
analytics.alerts.evaluate_alerts) and applies the result (files, S3, alerts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from redis import Redis
from redis.exceptions import RedisError

from analytics.alerts import (
    Alert,
    AlertBook,
    AlertFacts,
    AlertKind,
    AlertNotifier,
    ListenerProbe,
    evaluate_alerts,
)
from analytics.load import Frames, load_frames, unanswered_frame
from analytics.report import build_report
from analytics.sweeper import FindingsStore
from analytics.writers import ReportFiles, S3Uploader, upload_report, write_report
from shared.dead_letter import DeadLetterStream
from shared.errors import LeadfleetError
from shared.flywheel.store import RecordStore, build_store
from shared.salesforce.errors import SalesforceAuthError
from shared.salesforce.port import SalesforcePort
from shared.settings import LeadfleetSettings

__all__ = [
    "ALERT_CHECKS",
    "ReportRun",
    "check_alerts",
    "listener_url",
    "probe_listener",
    "report_days",
    "run_report",
]

log = logging.getLogger("analytics.jobs")

TEMPLATE_TASK = "outreach.template_suggest"
DAILY_API = "DailyApiRequests"
# The kinds check_alerts evaluates; the sweeper owns sla_unanswered.
ALERT_CHECKS: tuple[AlertKind, ...] = (
    "cdc_disconnected",
    "auth_failure",
    "api_usage",
    "ttfr_breach",
    "low_confidence",
    "template_failures",
    "dead_letter_growth",
)


@dataclass(frozen=True)
class ReportRun:
    """Where a report went: its files and, when uploaded, its S3 keys."""

    files: ReportFiles
    s3_keys: list[str] = field(default_factory=list)
    decisions: int = 0


def report_days(which: str, now: datetime) -> tuple[date, date]:
    """The period a scheduled report covers: today, yesterday or an ISO date (UTC days)."""
    today = now.astimezone(UTC).date()
    if which == "today":
        return today, today
    if which == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    day = date.fromisoformat(which)
    return day, day


def _findings(redis: Redis | None, prefix: str) -> list[dict[str, Any]]:
    if redis is None:
        return []
    try:
        return FindingsStore(redis, prefix).all()
    except RedisError as exc:
        # A report by hand should not need Redis; it is then built without the open findings.
        log.warning("sla findings unavailable", extra={"error": type(exc).__name__})
        return []


def run_report(
    settings: LeadfleetSettings,
    *,
    start: date,
    end: date,
    now: datetime,
    out_dir: Path | None = None,
    store: RecordStore | None = None,
    redis: Redis | None = None,
    s3: S3Uploader | None = None,
) -> ReportRun:
    """Build the report of [start, end] from the flywheel store and write (and upload) it."""
    frames = load_frames(store or build_store(settings.flywheel), start, end)
    unanswered = unanswered_frame(_findings(redis, settings.redis.key_prefix))
    report = build_report(frames, unanswered, start=start, end=end, now=now)
    files = write_report(report, out_dir or settings.analytics.reports_dir)
    keys: list[str] = []
    flywheel = settings.flywheel
    if settings.analytics.upload_to_s3 and (s3 is not None or flywheel.sink == "s3"):
        if s3 is None:
            from shared.flywheel.s3 import build_s3_client

            s3 = build_s3_client(flywheel)
        keys = upload_report(
            files, s3, bucket=flywheel.s3_bucket, prefix=settings.analytics.s3_prefix
        )
    log.info(
        "report",
        extra={
            "workload": "analytics.report",
            "outcome": "written",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "decisions": frames.decisions,
            "uploaded": len(keys),
        },
    )
    return ReportRun(files=files, s3_keys=keys, decisions=frames.decisions)


def listener_url(settings: LeadfleetSettings) -> str:
    """The listener health server's base URL: the alert setting, else the listener's own."""
    if settings.alerts.listener_url:
        return settings.alerts.listener_url.rstrip("/")
    host = settings.listener.http_host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind-all address is reached on loopback
        host = "127.0.0.1"
    return f"http://{host}:{settings.listener.http_port}"


def probe_listener(
    base_url: str, *, timeout: float, http: requests.Session | None = None
) -> ListenerProbe:
    """Ask the listener's /readyz; no answer is a probe that is neither reachable nor ready."""
    session = http or requests.Session()
    try:
        response = session.get(f"{base_url}/readyz", timeout=timeout)
    except requests.RequestException:
        return ListenerProbe(reachable=False, ready=False, failing=("no answer",))
    try:
        failing = tuple(str(f) for f in response.json().get("failing", []))
    except ValueError:
        failing = (f"HTTP {response.status_code}",)
    return ListenerProbe(reachable=True, ready=response.status_code == 200, failing=failing)


def _recent(frame: pd.DataFrame, column: str, since: datetime) -> pd.DataFrame:
    return frame.loc[frame[column] >= pd.Timestamp(since)]


def _record_facts(
    frames: Frames, settings: LeadfleetSettings, since: datetime
) -> tuple[list[tuple[str, float]], list[tuple[str, float]], list[str]]:
    alerts = settings.alerts
    ttfr = _recent(frames.ttfr, "recorded_at", since)
    watched = ttfr.loc[
        (ttfr["segment"] == alerts.ttfr_segment) & (ttfr["ttfr_minutes"] > alerts.ttfr_minutes)
    ]
    slow = [(str(r.lead_id), float(r.ttfr_minutes)) for r in watched.itertuples()]
    routing = _recent(frames.routing, "assigned_at", since)
    low_rows = routing.loc[routing["confidence"] < alerts.min_confidence]
    low = [(str(r.lead_id), float(r.confidence)) for r in low_rows.itertuples()]
    templates = _recent(frames.templates, "recorded_at", since)
    failed = [
        f"lead {r.lead_id}: fill failed"
        for r in templates.loc[templates["fill_failed"]].itertuples()
    ]
    return slow, low, failed


def _template_dead_letters(stream: DeadLetterStream, since: datetime) -> list[str]:
    recent = []
    # The newest entries are enough: growth beyond them is its own alert.
    for entry in stream.list(count=1000):
        if entry.task == TEMPLATE_TASK and entry.last_seen >= since:
            recent.append(f"dead letter {entry.id}: {entry.reason[:120]}")
    return recent


def check_alerts(
    settings: LeadfleetSettings,
    *,
    salesforce: SalesforcePort,
    redis: Redis,
    dead_letters: DeadLetterStream,
    clock: Callable[[], datetime],
    store: RecordStore | None = None,
    http: requests.Session | None = None,
    checks: Iterable[AlertKind] = ALERT_CHECKS,
) -> list[Alert]:
    """Gather the facts, evaluate them, and send the alerts not in cooldown; returns those sent."""
    now = clock()
    conf = settings.alerts
    since = now - timedelta(minutes=conf.window_minutes)
    probe = probe_listener(listener_url(settings), timeout=conf.listener_timeout_seconds, http=http)
    auth_error: str | None = None
    api_used = api_max = None
    try:
        daily = salesforce.limits().limits.get(DAILY_API)
        if daily is not None:
            api_used, api_max = daily.used, daily.Max
    except SalesforceAuthError as exc:
        auth_error = str(exc)
    except LeadfleetError as exc:
        log.warning("org limits unavailable", extra={"error": type(exc).__name__})
    frames = load_frames(store or build_store(settings.flywheel), since.date(), now.date())
    slow, low, failed = _record_facts(frames, settings, since)
    failed += _template_dead_letters(dead_letters, since)
    waiting = [
        (str(f["lead_id"]), float(f["minutes_waiting"]))
        for f in _findings(redis, settings.redis.key_prefix)
        if f.get("segment") == conf.ttfr_segment
    ]
    book = AlertBook(redis, settings.redis.key_prefix, cooldown_seconds=conf.cooldown_seconds)
    count = dead_letters.length()
    facts = AlertFacts(
        listener=probe,
        auth_error=auth_error,
        api_used=api_used,
        api_max=api_max,
        slow_responses=slow,
        unanswered=waiting,
        low_confidence=low,
        template_failures=failed,
        dead_letters=count,
        dead_letters_before=book.remember("dead_letters", count),
    )
    kinds = tuple(checks)
    alerts = [a for a in evaluate_alerts(facts, conf, now=now) if a.kind in kinds]
    book.record_open(alerts, checked=kinds)
    admitted = book.admit(alerts)
    AlertNotifier(conf, http=http).send(admitted)
    log.info(
        "alert checks",
        extra={
            "workload": "analytics.alerts",
            "outcome": "checked",
            "raised": len(alerts),
            "sent": len(admitted),
        },
    )
    return admitted
