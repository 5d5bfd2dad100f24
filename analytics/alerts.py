"""Alerts: pure checks over gathered facts, deduplicated with a cooldown in Redis, sent to the log
and to a Slack-compatible webhook.

- `evaluate_alerts` decides (facts and thresholds in, alerts out; `now` passed in);
- `AlertBook` remembers: an alert key is sent at most once per cooldown (SET NX EX), and the
  alerts of the last check stay "open" until a check no longer finds them, for `leadfleet status`;
- `AlertNotifier` sends: one JSON log line per alert, one webhook POST per batch
  (``{"text": ...}``) with a timeout; a failed POST is logged, never raised, because an
  unreachable webhook must not stop the checks that feed the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import requests
from pydantic import AwareDatetime, BaseModel, ConfigDict
from redis import Redis

from shared.settings import AlertSettings

__all__ = [
    "Alert",
    "AlertBook",
    "AlertFacts",
    "AlertKind",
    "AlertNotifier",
    "ListenerProbe",
    "evaluate_alerts",
    "sla_alerts",
]

log = logging.getLogger("analytics.alerts")

AlertKind = Literal[
    "cdc_disconnected",
    "auth_failure",
    "ttfr_breach",
    "low_confidence",
    "template_failures",
    "dead_letter_growth",
    "api_usage",
    "sla_unanswered",
]
Severity = Literal["warning", "critical"]
_SHOWN = 5


class Alert(BaseModel):
    """One condition worth a person's attention; key names it for deduplication."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    kind: AlertKind
    severity: Severity
    message: str
    raised_at: AwareDatetime


@dataclass(frozen=True)
class ListenerProbe:
    """What the listener's /readyz said: ready, not ready (with the failing checks) or no answer."""

    reachable: bool
    ready: bool
    failing: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertFacts:
    """Everything the checks look at, gathered beforehand (None: that fact could not be had)."""

    listener: ListenerProbe | None = None
    auth_error: str | None = None
    api_used: int | None = None
    api_max: int | None = None
    slow_responses: Sequence[tuple[str, float]] = ()
    unanswered: Sequence[tuple[str, float]] = ()
    low_confidence: Sequence[tuple[str, float]] = ()
    template_failures: Sequence[str] = ()
    dead_letters: int | None = None
    dead_letters_before: int | None = None


def _listed(items: Sequence[tuple[str, float]], unit: str) -> str:
    shown = ", ".join(f"{lead} ({value:.0f} {unit})" for lead, value in items[:_SHOWN])
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return shown + more


def evaluate_alerts(facts: AlertFacts, settings: AlertSettings, *, now: datetime) -> list[Alert]:
    """The alerts the facts call for, by the thresholds in settings."""
    alerts: list[Alert] = []

    def add(key: str, kind: AlertKind, severity: Severity, message: str) -> None:
        alerts.append(Alert(key=key, kind=kind, severity=severity, message=message, raised_at=now))

    probe = facts.listener
    if probe is not None and not probe.ready:
        why = "; ".join(probe.failing) if probe.reachable else "the listener does not answer"
        add("cdc_disconnected", "cdc_disconnected", "critical", f"CDC listener not ready: {why}")
    if facts.auth_error is not None:
        add(
            "auth_failure",
            "auth_failure",
            "critical",
            f"Salesforce authentication failed: {facts.auth_error}",
        )
    if facts.api_used is not None and facts.api_max:
        share = facts.api_used / facts.api_max
        if share >= settings.api_usage_share:
            add(
                "api_usage",
                "api_usage",
                "warning" if share < 1 else "critical",
                f"Salesforce API usage at {share:.0%} of the daily allowance "
                f"({facts.api_used:,} of {facts.api_max:,})",
            )
    segment, limit = settings.ttfr_segment, settings.ttfr_minutes
    for lead_id, minutes in facts.slow_responses:
        if minutes > limit:
            add(
                f"ttfr_breach:{lead_id}",
                "ttfr_breach",
                "warning",
                f"{segment} lead {lead_id} first answered after {minutes:.0f} min (target {limit:.0f})",
            )
    for lead_id, minutes in facts.unanswered:
        if minutes > limit:
            add(
                f"ttfr_breach:{lead_id}",
                "ttfr_breach",
                "critical",
                f"{segment} lead {lead_id} still unanswered after {minutes:.0f} min "
                f"(target {limit:.0f})",
            )
    low = [(lead, c) for lead, c in facts.low_confidence if c < settings.min_confidence]
    if low:
        shown = ", ".join(f"{lead} ({c:.2f})" for lead, c in low[:_SHOWN])
        more = f" and {len(low) - _SHOWN} more" if len(low) > _SHOWN else ""
        add(
            "low_confidence",
            "low_confidence",
            "warning",
            f"{len(low)} lead(s) routed with confidence under {settings.min_confidence:g}: "
            f"{shown}{more}",
        )
    failures = list(facts.template_failures)
    if len(failures) >= settings.template_failures:
        add(
            "template_failures",
            "template_failures",
            "warning",
            f"{len(failures)} template suggestion(s) failed: {'; '.join(failures[:_SHOWN])}",
        )
    if facts.dead_letters is not None and facts.dead_letters_before is not None:
        growth = facts.dead_letters - facts.dead_letters_before
        if growth >= settings.dead_letter_growth:
            add(
                "dead_letter_growth",
                "dead_letter_growth",
                "warning",
                f"{growth} new dead letter(s), {facts.dead_letters} in the stream "
                "(leadfleet dlq list)",
            )
    return alerts


def sla_alerts(found: Sequence[tuple[str, str, float, float]], *, now: datetime) -> list[Alert]:
    """One alert per lead past its SLA with no response: (lead, segment, minutes, sla hours)."""
    return [
        Alert(
            key=f"sla_unanswered:{lead_id}",
            kind="sla_unanswered",
            severity="critical",
            message=f"{segment} lead {lead_id} unanswered for {minutes:.0f} min "
            f"(SLA {sla_hours:g} h)",
            raised_at=now,
        )
        for lead_id, segment, minutes, sla_hours in found
    ]


class AlertBook:
    """Cooldowns and open alerts in Redis under ``<prefix>:alerts``."""

    def __init__(self, redis: Redis, prefix: str, *, cooldown_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:alerts"
        self._open_key = f"{self._prefix}:open"
        self._cooldown = cooldown_seconds

    def admit(self, alerts: Iterable[Alert]) -> list[Alert]:
        """The alerts not sent within the cooldown; each admitted key starts its cooldown."""
        admitted = []
        for alert in alerts:
            key = f"{self._prefix}:sent:{alert.key}"
            if self._redis.set(key, alert.raised_at.isoformat(), nx=True, ex=self._cooldown):
                admitted.append(alert)
        return admitted

    def record_open(self, alerts: Iterable[Alert], *, checked: Iterable[AlertKind]) -> None:
        """Make these the open alerts of the checked kinds (others of those kinds are resolved)."""
        kinds = set(checked)
        current = {a.key: a for a in alerts if a.kind in kinds}
        stale = [key for key, alert in self._open().items() if alert.kind in kinds]
        with self._redis.pipeline() as pipe:
            resolved = [key for key in stale if key not in current]
            if resolved:
                pipe.hdel(self._open_key, *resolved)
            if current:
                pipe.hset(
                    self._open_key,
                    mapping={key: alert.model_dump_json() for key, alert in current.items()},
                )
            pipe.execute()

    def open_alerts(self) -> list[Alert]:
        """Every open alert, most severe and oldest first."""
        alerts = list(self._open().values())
        return sorted(alerts, key=lambda a: (a.severity != "critical", a.raised_at, a.key))

    def remember(self, name: str, value: int) -> int | None:
        """Store a number between checks (e.g. the dead-letter count); returns the previous one."""
        previous = self._redis.getset(f"{self._prefix}:last:{name}", value)
        if isinstance(previous, bytes | str):
            return int(previous)
        return None

    def _open(self) -> dict[str, Alert]:
        raw = self._redis.hgetall(self._open_key)
        found: dict[str, Alert] = {}
        for key, value in raw.items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            try:
                found[name] = Alert.model_validate_json(value)
            except ValueError:
                continue
        return found


class AlertNotifier:
    """Sends alerts to the log and, when a webhook is configured, as one Slack-style message."""

    def __init__(self, settings: AlertSettings, *, http: requests.Session | None = None) -> None:
        self._url = settings.webhook_url.get_secret_value()
        self._timeout = settings.webhook_timeout_seconds
        self._http = http or requests.Session()

    def send(self, alerts: Sequence[Alert]) -> bool:
        """Log every alert and post them to the webhook; False when the post failed."""
        for alert in alerts:
            log.warning(
                "alert",
                extra={
                    "alert": alert.kind,
                    "key": alert.key,
                    "severity": alert.severity,
                    "detail": alert.message,
                },
            )
        if not alerts or not self._url:
            return True
        lines = [f"{'🔴' if a.severity == 'critical' else '🟠'} {a.message}" for a in alerts]
        text = f"leadfleet: {len(alerts)} alert(s)\n" + "\n".join(lines)
        try:
            response = self._http.post(self._url, json={"text": text}, timeout=self._timeout)
        except requests.RequestException as exc:
            # The webhook URL is a secret: log the failure's kind, never the URL.
            log.error("alert webhook failed", extra={"error": type(exc).__name__})
            return False
        if response.status_code >= 300:
            log.error("alert webhook refused", extra={"status": response.status_code})
            return False
        return True
