"""The dashboard page: one self-contained HTML file (inline CSS and SVG, no script, no CDN)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from analytics.charts import render_charts
from analytics.report import HEADLINES, Report, json_value

__all__ = ["TABLES", "format_cell", "render_dashboard"]

_TEMPLATE = "dashboard.html.j2"
_ROWS_SHOWN = 25
# Headline keys shown as percentages; the rest as counts or minutes.
_RATES = frozenset({"breach_60_rate", "override_rate", "send_success_rate"})
# Tables shown under the charts, with their titles, in order.
TABLES: tuple[tuple[str, str], ...] = (
    ("routing_by_segment", "Routing by segment"),
    ("routing_by_region", "Routing by region"),
    ("routing_source_mix", "Decided by"),
    ("routing_confidence", "Routing confidence"),
    ("routing_by_owner", "Routing by owner"),
    ("ttfr_by_owner", "TTFR by owner (minutes)"),
    ("ttfr_by_region", "TTFR by region (minutes)"),
    ("ttfr_buckets", "TTFR buckets"),
    ("template_usage", "Template usage"),
    ("template_blocked", "Blocked sends"),
    ("ttfr_summary", "TTFR summary (minutes)"),
    ("template_summary", "Template summary"),
)

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class _Cell:
    text: str
    numeric: bool


def format_cell(value: Any, *, rate: bool = False) -> _Cell:
    """A value as the page shows it: rates as percentages, floats to two places, none as —."""
    value = json_value(value)
    if value is None:
        return _Cell("—", False)
    if isinstance(value, bool):
        return _Cell("yes" if value else "no", False)
    if isinstance(value, int):
        return _Cell(f"{value:,}", True)
    if isinstance(value, float):
        if rate:
            return _Cell(f"{value * 100:.1f}%", True)
        return _Cell(
            f"{value:,.0f}" if math.isclose(value, round(value)) else f"{value:,.2f}", True
        )
    return _Cell(str(value), False)


def _table(name: str, title: str, frame: pd.DataFrame) -> dict[str, Any]:
    shown = frame.head(_ROWS_SHOWN)
    columns = [str(c) for c in shown.columns]
    rows = [
        [
            format_cell(v, rate=c == "share" or c.endswith("_rate"))
            for c, v in zip(columns, row, strict=True)
        ]
        for row in shown.itertuples(index=False, name=None)
    ]
    return {
        "name": name,
        "title": title,
        "columns": columns,
        "rows": rows,
        "total": len(frame),
        "truncated": len(frame) > _ROWS_SHOWN,
    }


def render_dashboard(report: Report) -> str:
    """The dashboard HTML: headline numbers first, then the charts, then the detail tables."""
    headline = [
        {
            "key": key,
            "label": label,
            "value": format_cell(report.headline.get(key), rate=key in _RATES).text,
        }
        for key, label in HEADLINES
    ]
    tables = [_table(name, title, report.tables[name]) for name, title in TABLES]
    unanswered = report.unanswered[["lead_id", "owner", "segment", "minutes_waiting", "sla_hours"]]
    tables.append(_table("unanswered", "Unanswered past SLA", unanswered))
    period = (
        report.start.isoformat()
        if report.start == report.end
        else f"{report.start.isoformat()} – {report.end.isoformat()}"
    )
    return _environment.get_template(_TEMPLATE).render(
        period=period,
        generated_at=pd.Timestamp(report.generated_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
        headline=headline,
        charts=render_charts(report),
        tables=tables,
    )
