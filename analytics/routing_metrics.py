"""Routing KPIs from the routing frame (analytics.load): totals, mix, confidence and latency.

Every function is pure: a frame in, a frame out. Percentiles interpolate linearly between
order statistics (pandas' default). Hours are UTC.
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "CONFIDENCE_BINS",
    "CONFIDENCE_LABELS",
    "SOURCES",
    "confidence_distribution",
    "confidence_over_time",
    "routed_by",
    "routed_per_hour",
    "routing_summary",
    "source_mix",
]

SOURCES = ("rules", "llm", "degraded")
# Left-closed bands: 0.5 is already "0.5–0.7", the low-confidence alert is "under 0.5".
CONFIDENCE_BINS = (0.0, 0.5, 0.7, 0.9, 1.0000001)
CONFIDENCE_LABELS = ("0–0.5", "0.5–0.7", "0.7–0.9", "0.9–1")


def routing_summary(routing: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """One row: leads routed, confidence, create-to-assigned seconds and the human-override rate."""
    total = len(routing)
    seconds = routing["assign_seconds"].dropna()
    confidence = routing["confidence"].dropna()
    routed_leads = set(routing["lead_id"].dropna())
    overridden = set(feedback["lead_id"].dropna()) & routed_leads
    return pd.DataFrame(
        [
            {
                "leads_routed": total,
                "confidence_mean": confidence.mean() if len(confidence) else None,
                "confidence_median": confidence.median() if len(confidence) else None,
                "low_confidence": int((confidence < CONFIDENCE_BINS[1]).sum()),
                "assign_seconds_known": len(seconds),
                "assign_seconds_median": seconds.median() if len(seconds) else None,
                "assign_seconds_p95": seconds.quantile(0.95) if len(seconds) else None,
                "overrides": len(overridden),
                "override_rate": len(overridden) / total if total else None,
            }
        ]
    )


def routed_by(routing: pd.DataFrame, column: str) -> pd.DataFrame:
    """Leads per value of column (segment, region or owner), share and mean confidence."""
    values = routing[column].fillna("(none)")
    grouped = routing.assign(**{column: values}).groupby(column, sort=True)
    frame = grouped.agg(leads=("lead_id", "size"), confidence_mean=("confidence", "mean"))
    frame["share"] = frame["leads"] / len(routing) if len(routing) else 0.0
    frame = frame.reset_index().sort_values(["leads", column], ascending=[False, True])
    return frame.reset_index(drop=True)[[column, "leads", "share", "confidence_mean"]]


def source_mix(routing: pd.DataFrame) -> pd.DataFrame:
    """Leads decided by rules, the LLM, and rules while the LLM was down (degraded)."""
    counts = routing["source"].value_counts()
    total = len(routing)
    names = list(SOURCES) + sorted(set(counts.index) - set(SOURCES))
    rows = [
        {
            "source": name,
            "leads": int(counts.get(name, 0)),
            "share": int(counts.get(name, 0)) / total if total else 0.0,
        }
        for name in names
    ]
    return pd.DataFrame(rows, columns=["source", "leads", "share"])


def confidence_distribution(routing: pd.DataFrame) -> pd.DataFrame:
    """Leads per confidence band (0–0.5, 0.5–0.7, 0.7–0.9, 0.9–1)."""
    bands = pd.cut(
        routing["confidence"], bins=list(CONFIDENCE_BINS), labels=list(CONFIDENCE_LABELS),
        right=False,
    )  # fmt: skip
    counts = bands.value_counts().reindex(list(CONFIDENCE_LABELS), fill_value=0)
    total = int(counts.sum())
    return pd.DataFrame(
        {
            "band": list(CONFIDENCE_LABELS),
            "leads": [int(v) for v in counts.to_list()],
            "share": [int(v) / total if total else 0.0 for v in counts.to_list()],
        }
    )


def _hourly(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].dt.floor("h")


def routed_per_hour(routing: pd.DataFrame) -> pd.DataFrame:
    """Leads routed in each UTC hour that had any, oldest first."""
    if routing.empty:
        return pd.DataFrame({"hour": pd.Series(dtype="datetime64[ns, UTC]"), "leads": []})
    counts = routing.groupby(_hourly(routing, "assigned_at")).size()
    return pd.DataFrame({"hour": counts.index, "leads": counts.to_numpy()}).reset_index(drop=True)


def confidence_over_time(routing: pd.DataFrame) -> pd.DataFrame:
    """Mean and lowest routing confidence per UTC hour."""
    known = routing.dropna(subset=["confidence"])
    if known.empty:
        return pd.DataFrame({"hour": pd.Series(dtype="datetime64[ns, UTC]"), "mean": [], "min": []})
    grouped = known.groupby(_hourly(known, "assigned_at"))["confidence"]
    frame = grouped.agg(["mean", "min"]).reset_index()
    return frame.rename(columns={"assigned_at": "hour"})
