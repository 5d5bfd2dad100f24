"""The report for a day or a range: every metric table plus the headline numbers, built purely.

`build_report` turns frames into a `Report` (no I/O, `now` passed in); `report_json` makes it
JSON-safe (NaN is null, instants are ISO-8601 UTC). analytics.run wires reading and writing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics import routing_metrics, template_metrics, ttfr_metrics
from analytics.load import Frames

__all__ = ["HEADLINES", "Report", "build_report", "json_value", "report_json", "table_records"]

# The numbers at the top of the dashboard, in order, with their labels.
HEADLINES: tuple[tuple[str, str], ...] = (
    ("leads_routed", "Leads routed"),
    ("assign_seconds_median", "Create → assigned, median (s)"),
    ("ttfr_median", "TTFR median (min)"),
    ("ttfr_p95", "TTFR P95 (min)"),
    ("breach_60_rate", "Answered after 60 min"),
    ("unanswered_past_sla", "Unanswered past SLA"),
    ("override_rate", "Human overrides"),
    ("send_success_rate", "Send success"),
)


@dataclass(frozen=True)
class Report:
    """Every metric of a period, as tables, and the headline numbers."""

    start: date
    end: date
    generated_at: datetime
    frames: Frames
    unanswered: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        """YYYYMMDD of the period's last day: the suffix of every file of the report."""
        return self.end.strftime("%Y%m%d")


def build_report(
    frames: Frames, unanswered: pd.DataFrame, *, start: date, end: date, now: datetime
) -> Report:
    """Compute every table of the report from the period's frames and the open SLA findings."""
    routing, ttfr, templates = frames.routing, frames.ttfr, frames.templates
    tables = {
        "routing_summary": routing_metrics.routing_summary(routing, frames.feedback),
        "routing_by_segment": routing_metrics.routed_by(routing, "segment"),
        "routing_by_region": routing_metrics.routed_by(routing, "region"),
        "routing_by_owner": routing_metrics.routed_by(routing, "owner"),
        "routing_source_mix": routing_metrics.source_mix(routing),
        "routing_confidence": routing_metrics.confidence_distribution(routing),
        "routed_per_hour": routing_metrics.routed_per_hour(routing),
        "confidence_over_time": routing_metrics.confidence_over_time(routing),
        "ttfr_summary": ttfr_metrics.ttfr_summary(ttfr, unanswered),
        "ttfr_buckets": ttfr_metrics.ttfr_buckets(ttfr),
        "ttfr_by_owner": ttfr_metrics.ttfr_by(ttfr, "owner"),
        "ttfr_by_region": ttfr_metrics.ttfr_by(ttfr, "region"),
        "ttfr_by_segment": ttfr_metrics.ttfr_by(ttfr, "segment"),
        "ttfr_trend": ttfr_metrics.ttfr_trend(ttfr),
        "template_summary": template_metrics.template_summary(templates),
        "template_usage": template_metrics.template_usage(templates),
        "template_intents": template_metrics.usage_by_intent(templates),
        "template_blocked": template_metrics.blocked_by_reason(templates),
    }
    merged: dict[str, Any] = {}
    for name in ("routing_summary", "ttfr_summary", "template_summary"):
        merged.update(table_records(tables[name])[0])
    headline = {key: merged.get(key) for key, _ in HEADLINES}
    return Report(
        start=start,
        end=end,
        generated_at=now,
        frames=frames,
        unanswered=unanswered,
        tables=tables,
        headline=headline,
    )


def json_value(value: Any) -> Any:
    """A cell as JSON: NaN and NaT are null, instants ISO-8601 UTC, numpy scalars plain."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is pd.NA:
        return None
    return value


def table_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as a list of JSON-safe row objects."""
    columns = [str(c) for c in table.columns]
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in table.itertuples(index=False, name=None)
    ]


def report_json(report: Report) -> dict[str, Any]:
    """The dashboard JSON: period, headline, every table, and the unanswered leads."""
    return {
        "report": "leadfleet dashboard",
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "generated_at": json_value(pd.Timestamp(report.generated_at)),
        "headline": {k: json_value(v) for k, v in report.headline.items()},
        "tables": {name: table_records(table) for name, table in report.tables.items()},
        "unanswered": table_records(report.unanswered),
    }
