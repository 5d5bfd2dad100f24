"""The dashboard's charts as inline SVG (matplotlib, no pyplot state), so the HTML opens offline.

Each chart is drawn even without data: an empty chart says "no data" rather than vanish, so a
reader can tell a quiet day from a broken report.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from analytics.report import Report

__all__ = ["CHART_TITLES", "Chart", "render_charts"]

CHART_TITLES: dict[str, str] = {
    "routed-per-hour": "Leads routed per hour",
    "ttfr-trend": "TTFR trend (median and P95)",
    "ttfr-distribution": "TTFR distribution",
    "template-usage": "Template usage",
    "confidence-over-time": "Routing confidence over time",
}
_BLUE = "#2563eb"
_ORANGE = "#ea580c"
_GREEN = "#16a34a"
_PURPLE = "#7c3aed"
_GREY = "#6b7280"
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
# matplotlib's RDF block names who drew the file; a page needs none of it.
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_TEMPLATE_BARS = 12


@dataclass(frozen=True)
class Chart:
    """One chart: its id, title and SVG markup ready to inline."""

    chart_id: str
    title: str
    svg: str


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    FigureCanvasSVG(figure)
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _no_data(axes: Axes) -> None:
    axes.text(0.5, 0.5, "no data", ha="center", va="center", color=_GREY, transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _svg(figure: Figure, chart_id: str) -> str:
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart_id}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    markup = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    return _METADATA.sub("", markup, count=1).strip()


def _hours(hours: pd.Series) -> list[Any]:
    """Hours as naive UTC datetimes: a time axis keeps a period that crosses midnight in order."""
    return [pd.Timestamp(h).tz_convert("UTC").tz_localize(None).to_pydatetime() for h in hours]


def _time_axis(axes: Axes, hours: list[Any]) -> None:
    # Framed on the hours shown: with one point matplotlib would otherwise span several years.
    axes.set_xlim(min(hours) - timedelta(minutes=30), max(hours) + timedelta(minutes=90))
    locator = mdates.AutoDateLocator(maxticks=12)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.tick_params(axis="x", labelsize=7)


def _routed_per_hour(report: Report) -> Figure:
    figure, axes = _figure()
    table = report.tables["routed_per_hour"]
    if table.empty:
        _no_data(axes)
    else:
        # Bars one hour wide less a gap, in days (matplotlib's date unit).
        hours = _hours(table["hour"])
        axes.bar(hours, table["leads"], width=0.8 / 24, align="edge", color=_BLUE)
        axes.set_ylabel("leads")
        _time_axis(axes, hours)
    return figure


def _ttfr_trend(report: Report) -> Figure:
    figure, axes = _figure()
    table = report.tables["ttfr_trend"]
    if table.empty:
        _no_data(axes)
    else:
        hours = _hours(table["hour"])
        axes.plot(hours, table["median"], marker="o", markersize=3, color=_BLUE, label="median")
        axes.plot(hours, table["p95"], marker="o", markersize=3, color=_ORANGE, label="P95")
        axes.axhline(60, color=_GREY, linestyle="--", linewidth=0.8, label="60 min")
        axes.set_ylabel("minutes")
        _time_axis(axes, hours)
        axes.legend(frameon=False, fontsize=8)
    return figure


def _ttfr_distribution(report: Report) -> Figure:
    figure, axes = _figure()
    table = report.tables["ttfr_buckets"]
    if int(table["leads"].sum()) == 0:
        _no_data(axes)
    else:
        colours = [_GREEN, _BLUE, _PURPLE, _ORANGE]
        axes.bar(table["bucket"], table["leads"], color=colours[: len(table)])
        axes.set_xlabel("minutes to first response")
        axes.set_ylabel("leads")
    return figure


def _template_usage(report: Report) -> Figure:
    figure, axes = _figure()
    table = report.tables["template_usage"].head(_TEMPLATE_BARS)
    if table.empty:
        _no_data(axes)
    else:
        ordered = table.iloc[::-1]
        axes.barh(ordered["template_id"].astype(str), ordered["uses"], color=_PURPLE)
        axes.set_xlabel("suggestions")
        axes.grid(axis="x", color="#e5e7eb", linewidth=0.8)
        axes.tick_params(axis="y", labelsize=7)
    return figure


def _confidence_over_time(report: Report) -> Figure:
    figure, axes = _figure()
    table = report.tables["confidence_over_time"]
    if table.empty:
        _no_data(axes)
    else:
        hours = _hours(table["hour"])
        axes.plot(hours, table["mean"], marker="o", markersize=3, color=_GREEN, label="mean")
        axes.plot(hours, table["min"], marker=".", color=_ORANGE, label="lowest")
        axes.axhline(0.5, color=_GREY, linestyle="--", linewidth=0.8, label="0.5")
        axes.set_ylim(0, 1.05)
        axes.set_ylabel("confidence")
        _time_axis(axes, hours)
        axes.legend(frameon=False, fontsize=8)
    return figure


_DRAW = {
    "routed-per-hour": _routed_per_hour,
    "ttfr-trend": _ttfr_trend,
    "ttfr-distribution": _ttfr_distribution,
    "template-usage": _template_usage,
    "confidence-over-time": _confidence_over_time,
}


def render_charts(report: Report) -> list[Chart]:
    """Every dashboard chart, in display order."""
    return [
        Chart(chart_id, CHART_TITLES[chart_id], _svg(draw(report), chart_id))
        for chart_id, draw in _DRAW.items()
    ]
