"""Time-to-first-response KPIs from the TTFR frame and the sweeper's unanswered leads.

A TTFR over answered leads alone hides the worst cases, so the summary also counts the leads
still unanswered past their SLA and gives a breach rate that includes them. Buckets are
right-closed: 0–15 holds 15.0, and 60+ holds exactly what breaches the 60-minute target.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = [
    "BUCKET_EDGES",
    "BUCKET_LABELS",
    "SPEED_TO_LEAD_MINUTES",
    "ttfr_buckets",
    "ttfr_by",
    "ttfr_summary",
    "ttfr_trend",
]

SPEED_TO_LEAD_MINUTES = 60.0
BUCKET_EDGES = (float("-inf"), 15.0, 30.0, 60.0, float("inf"))
BUCKET_LABELS = ("0–15", "15–30", "30–60", "60+")


def _stats(values: pd.Series, prefix: str) -> dict[str, Any]:
    known = values.dropna()
    empty = known.empty
    return {
        f"{prefix}_median": None if empty else known.median(),
        f"{prefix}_p90": None if empty else known.quantile(0.90),
        f"{prefix}_p95": None if empty else known.quantile(0.95),
        f"{prefix}_max": None if empty else known.max(),
    }


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def ttfr_summary(ttfr: pd.DataFrame, unanswered: pd.DataFrame) -> pd.DataFrame:
    """One row: percentiles (calendar and business minutes), breach rates and unanswered leads."""
    answered = len(ttfr)
    minutes = ttfr["ttfr_minutes"]
    over_60 = int((minutes > SPEED_TO_LEAD_MINUTES).sum())
    with_sla = ttfr.dropna(subset=["sla_hours"])
    over_sla = int((with_sla["ttfr_minutes"] > with_sla["sla_hours"] * 60.0).sum())
    business_over_60 = int((ttfr["business_minutes"] > SPEED_TO_LEAD_MINUTES).sum())
    waiting = len(unanswered)
    row: dict[str, Any] = {"answered": answered}
    row.update(_stats(minutes, "ttfr"))
    row.update(_stats(ttfr["business_minutes"], "business"))
    row.update(
        {
            "breach_60": over_60,
            "breach_60_rate": _rate(over_60, answered),
            "breach_sla": over_sla,
            "breach_sla_rate": _rate(over_sla, len(with_sla)),
            "business_breach_60_rate": _rate(business_over_60, answered),
            "unanswered_past_sla": waiting,
            "unanswered_oldest_minutes": (
                None if unanswered.empty else unanswered["minutes_waiting"].max()
            ),
            # Every unanswered lead is past its SLA, so it is a breach of both targets.
            "breach_sla_rate_with_unanswered": _rate(over_sla + waiting, len(with_sla) + waiting),
        }
    )
    return pd.DataFrame([row])


def ttfr_buckets(ttfr: pd.DataFrame) -> pd.DataFrame:
    """Answered leads per TTFR bucket (0–15, 15–30, 30–60, 60+ minutes), count and share."""
    bands = pd.cut(ttfr["ttfr_minutes"], bins=list(BUCKET_EDGES), labels=list(BUCKET_LABELS))
    counts = bands.value_counts().reindex(list(BUCKET_LABELS), fill_value=0)
    total = int(counts.sum())
    values = [int(v) for v in counts.to_list()]
    return pd.DataFrame(
        {
            "bucket": list(BUCKET_LABELS),
            "leads": values,
            "share": [v / total if total else 0.0 for v in values],
        }
    )


def ttfr_by(ttfr: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per owner or region: answered leads, median and P95 minutes, and the 60-minute breach rate."""
    keyed = ttfr.assign(
        **{column: ttfr[column].fillna("(none)")},
        _breach=(ttfr["ttfr_minutes"] > SPEED_TO_LEAD_MINUTES).astype("float64"),
    )
    grouped = keyed.groupby(column, sort=True)
    minutes = grouped["ttfr_minutes"]
    frame = pd.DataFrame(
        {
            "leads": minutes.size(),
            "median": minutes.median(),
            "p95": minutes.quantile(0.95),
            "business_median": grouped["business_minutes"].median(),
            "breach_60_rate": grouped["_breach"].mean(),
        }
    ).reset_index()
    return frame.sort_values(["leads", column], ascending=[False, True]).reset_index(drop=True)


def ttfr_trend(ttfr: pd.DataFrame) -> pd.DataFrame:
    """Median and P95 TTFR per UTC hour of the first response."""
    if ttfr.empty:
        return pd.DataFrame(
            {"hour": pd.Series(dtype="datetime64[ns, UTC]"), "median": [], "p95": [], "leads": []}
        )
    grouped = ttfr.groupby(ttfr["responded_at"].dt.floor("h"))["ttfr_minutes"]
    frame = pd.DataFrame(
        {"median": grouped.median(), "p95": grouped.quantile(0.95), "leads": grouped.size()}
    )
    return frame.rename_axis("hour").reset_index()
