"""What the demo shows, read from where the truth lives: the org (SOQL over REST) and Redis.

Counts cover the leads created since the run began, so the org's seeded history never mixes in;
the summary is computed from the org's rows, never from the processes' own counters.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import redis
import requests
from rich.table import Table
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from shared.dead_letter import DeadLetterStream
from shared.errors import LeadfleetError
from shared.messages import QUEUES
from shared.salesforce.auth import JwtBearerAuth
from shared.salesforce.soql import datetime_literal
from shared.salesforce.wire import build_http_session
from shared.settings import RedisSettings, SalesforceSettings

# kombu's Redis transport keeps delivered, unacknowledged messages in this hash.
UNACKED_KEY = "unacked"
_READ_ERRORS = (SimpleSalesforceError, requests.RequestException, redis.RedisError, LeadfleetError)
_SUMMARY_FIELDS = (
    "Id, CreatedDate, Owner_Assigned_At__c, First_Response_At__c, Suggested_Template__c"
)


@dataclass(frozen=True)
class Progress:
    """One reading of the run: the org's counts and the fleet's backlog."""

    created: int
    routed: int
    responses: int
    templates: int
    dead_letters: int
    queues: dict[str, int]
    in_flight: int

    @property
    def backlog(self) -> int:
        """Messages queued or held by a worker."""
        return sum(self.queues.values()) + self.in_flight


RunState = Literal["running", "drained", "timed_out"]


@dataclass
class DrainWatch:
    """Decides when a run is over: once the traffic has finished, the fleet must be idle (nothing
    queued or in flight) with unchanged counts for `settle_seconds`, within `timeout_seconds`."""

    settle_seconds: float
    timeout_seconds: float
    _last: Progress | None = None
    _quiet_since: float | None = None
    _deadline: float | None = None

    def observe(self, progress: Progress | None, traffic_done: bool, now: float) -> RunState:
        """The run's state after one reading (None: the reading failed)."""
        if traffic_done and self._deadline is None:
            self._deadline = now + self.timeout_seconds
        if progress is not None:
            settled = traffic_done and progress.backlog == 0 and progress == self._last
            self._quiet_since = (self._quiet_since or now) if settled else None
            self._last = progress
        if self._quiet_since is not None and now - self._quiet_since >= self.settle_seconds:
            return "drained"
        if self._deadline is not None and now > self._deadline:
            return "timed_out"
        return "running"


@dataclass(frozen=True)
class Summary:
    """The run's outcome, from the org's data and the dead-letter stream."""

    since: str
    leads_created: int
    leads_routed: int
    latency_median_seconds: float | None
    latency_p95_seconds: float | None
    responses_detected: int
    templates_suggested: int
    dead_letters: int

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object."""
        return asdict(self)


def parse_sf_datetime(text: str) -> datetime:
    """A Salesforce date-time (2024-05-01T09:30:00.000+0000) as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def latency_stats(seconds: Sequence[float]) -> tuple[float | None, float | None]:
    """Median and 95th percentile (inclusive method); None for no values."""
    if not seconds:
        return None, None
    if len(seconds) == 1:
        return seconds[0], seconds[0]
    p95 = statistics.quantiles(seconds, n=20, method="inclusive")[-1]
    return statistics.median(seconds), p95


def summarize(rows: Iterable[dict[str, Any]], dead_letters: int, since: datetime) -> Summary:
    """The summary of the leads created since a moment."""
    rows = list(rows)
    latencies = [
        (
            parse_sf_datetime(str(row["Owner_Assigned_At__c"]))
            - parse_sf_datetime(str(row["CreatedDate"]))
        ).total_seconds()
        for row in rows
        if row.get("Owner_Assigned_At__c")
    ]
    median, p95 = latency_stats(latencies)
    return Summary(
        since=datetime_literal(since),
        leads_created=len(rows),
        leads_routed=len(latencies),
        latency_median_seconds=None if median is None else round(median, 3),
        latency_p95_seconds=None if p95 is None else round(p95, 3),
        responses_detected=sum(1 for row in rows if row.get("First_Response_At__c")),
        templates_suggested=sum(1 for row in rows if row.get("Suggested_Template__c")),
        dead_letters=dead_letters,
    )


class DemoReader:
    """Reads progress from the org (as the integration user) and from the fleet's Redis."""

    def __init__(
        self, salesforce: SalesforceSettings, redis_settings: RedisSettings, since: datetime
    ) -> None:
        self._settings = salesforce
        self._since = since
        self._redis = redis.Redis.from_url(
            redis_settings.url,
            socket_timeout=redis_settings.socket_timeout_seconds,
            socket_connect_timeout=redis_settings.socket_timeout_seconds,
        )
        self._dead_letters = DeadLetterStream(self._redis, redis_settings.key_prefix)
        self._http = build_http_session(salesforce)
        self._auth = JwtBearerAuth(
            salesforce, self._redis, key_prefix=redis_settings.key_prefix, http=self._http
        )

    def close(self) -> None:
        """Close the HTTP session and the Redis connection."""
        self._http.close()
        self._redis.close()

    def _salesforce(self) -> Salesforce:
        token = self._auth.token()
        return Salesforce(
            instance_url=self._settings.instance_url or token.instance_url,
            session_id=token.access_token.get_secret_value(),
            session=self._http,
            version=self._settings.api_version,
        )

    def _where(self, extra: str = "") -> str:
        clause = f"WHERE CreatedDate >= {datetime_literal(self._since)}"
        return f"{clause} AND {extra}" if extra else clause

    def _count(self, sf: Salesforce, extra: str = "") -> int:
        soql = f"SELECT COUNT() FROM Lead {self._where(extra)}"  # noqa: S608 - soql.py literal
        return int(sf.query(soql)["totalSize"])

    def dead_letter_count(self) -> int:
        """Entries on the dead-letter stream."""
        return int(self._redis.xlen(self._dead_letters.key))

    def progress(self) -> Progress:
        """The counts now; raises ReadError when the org or Redis does not answer."""
        try:
            sf = self._salesforce()
            created = self._count(sf)
            routed = self._count(sf, "Owner_Assigned_At__c != null")
            responses = self._count(sf, "First_Response_At__c != null")
            templates = self._count(sf, "Suggested_Template__c != null")
            queues = {queue.value: int(self._redis.llen(queue.value)) for queue in QUEUES}
            in_flight = int(self._redis.hlen(UNACKED_KEY))
            dead = self.dead_letter_count()
        except _READ_ERRORS as exc:
            raise ReadError(f"{type(exc).__name__}") from None
        return Progress(created, routed, responses, templates, dead, queues, in_flight)

    def summary(self) -> Summary:
        """The run's summary from every lead created since the start."""
        try:
            sf = self._salesforce()
            soql = f"SELECT {_SUMMARY_FIELDS} FROM Lead {self._where()}"  # noqa: S608 - soql.py literal
            rows = sf.query_all(soql)["records"]
            dead = self.dead_letter_count()
        except _READ_ERRORS as exc:
            raise ReadError(f"{type(exc).__name__}") from None
        return summarize([dict(row) for row in rows], dead, self._since)


class ReadError(Exception):
    """The org or Redis did not answer a progress read."""


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def render_progress(
    progress: Progress, planned: int, elapsed: float, processes: Mapping[str, str]
) -> Table:
    """The live table."""
    table = Table(
        title=f"leadfleet demo · {int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}",
        title_justify="left",
        show_header=False,
        min_width=48,
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("Leads created", f"{progress.created} / {planned}")
    table.add_row("Routed", str(progress.routed))
    table.add_row("Responses detected", str(progress.responses))
    table.add_row("Templates suggested", str(progress.templates))
    table.add_row("Dead letters", str(progress.dead_letters))
    table.add_section()
    for name, depth in progress.queues.items():
        table.add_row(f"[dim]queue[/] {name}", str(depth))
    table.add_row("[dim]in flight[/]", str(progress.in_flight))
    table.add_section()
    for name, state in processes.items():
        table.add_row(f"[dim]process[/] {name}", state)
    return table


def render_summary(summary: Summary) -> Table:
    """The end-of-run table."""
    table = Table(title="leadfleet demo · summary (from the org's data)", title_justify="left",
                  show_header=False, min_width=48)  # fmt: skip
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("Leads created", str(summary.leads_created))
    table.add_row("Leads routed", str(summary.leads_routed))
    table.add_row("Create → assigned, median", _seconds(summary.latency_median_seconds))
    table.add_row("Create → assigned, p95", _seconds(summary.latency_p95_seconds))
    table.add_row("Responses detected", str(summary.responses_detected))
    table.add_row("Templates suggested", str(summary.templates_suggested))
    table.add_row("Dead letters", str(summary.dead_letters))
    return table
