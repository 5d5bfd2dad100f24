"""Typed frames: the raw decision rows given their dtypes (instants UTC, numbers float, text string).

The column tuples are the frames' contract with the metric modules; `analytics.load` fills them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = [
    "FEEDBACK_COLUMNS",
    "ROUTING_COLUMNS",
    "TEMPLATE_COLUMNS",
    "TTFR_COLUMNS",
    "UNANSWERED_COLUMNS",
    "empty_frame",
    "feedback_frame",
    "routing_frame",
    "template_frame",
    "ttfr_frame",
    "unanswered_frame",
    "utc",
]

ROUTING_COLUMNS = (
    "record_id",
    "lead_id",
    "assigned_at",
    "created_at",
    "segment",
    "region",
    "owner",
    "owner_kind",
    "confidence",
    "source",
    "latency_ms",
    "assign_seconds",
)
TTFR_COLUMNS = (
    "record_id",
    "lead_id",
    "recorded_at",
    "responded_at",
    "created_at",
    "ttfr_minutes",
    "business_minutes",
    "sla_hours",
    "responder",
    "owner",
    "segment",
    "region",
)
TEMPLATE_COLUMNS = (
    "record_id",
    "lead_id",
    "recorded_at",
    "template_id",
    "intent",
    "confidence",
    "source",
    "outcome",
    "sent",
    "send_attempted",
    "blocked_reason",
    "fallbacks_used",
    "fill_failed",
)
FEEDBACK_COLUMNS = (
    "record_id",
    "lead_id",
    "recorded_at",
    "old_owner",
    "new_owner",
    "minutes_since_routing",
)
UNANSWERED_COLUMNS = (
    "lead_id",
    "owner",
    "segment",
    "region",
    "created_at",
    "sla_hours",
    "minutes_waiting",
    "found_at",
)


def utc(values: Any) -> pd.Series:
    """Values as UTC instants at nanosecond resolution."""
    # One resolution for every instant column, so arithmetic and fillna never mix units.
    parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
    return parsed.dt.as_unit("ns")


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """A frame with the columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def routing_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Routing rows typed, one per lead (its first routing), with create-to-assigned seconds."""
    frame = pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "assigned_at": utc(raw["assigned_at"]),
            "created_at": utc(raw["created_at"]),
            "segment": raw["segment"].astype("string"),
            "region": raw["region"].astype("string"),
            "owner": raw["owner"].astype("string"),
            "owner_kind": raw["owner_kind"].astype("string"),
            "confidence": pd.to_numeric(raw["confidence"], errors="coerce").astype("float64"),
            "source": raw["source"].astype("string"),
            "latency_ms": pd.to_numeric(raw["latency_ms"], errors="coerce").astype("float64"),
        }
    )
    frame = frame.drop_duplicates("lead_id", keep="first").reset_index(drop=True)
    frame["assign_seconds"] = (frame["assigned_at"] - frame["created_at"]).dt.total_seconds()
    return frame


def ttfr_frame(raw: pd.DataFrame, *, routing: pd.DataFrame) -> pd.DataFrame:
    """First-response rows typed, one per lead (its earliest), completed from its routing row."""
    frame = pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "recorded_at": utc(raw["recorded_at"]),
            "responded_at": utc(raw["responded_at"]),
            "created_at": utc(raw["created_at"]),
            "ttfr_minutes": pd.to_numeric(raw["ttfr_minutes"], errors="coerce").astype("float64"),
            "business_minutes": pd.to_numeric(raw["business_minutes"], errors="coerce").astype(
                "float64"
            ),
            "sla_hours": pd.to_numeric(raw["sla_hours"], errors="coerce").astype("float64"),
            "responder": raw["responder"].astype("string"),
            "owner": raw["owner"].astype("string"),
            "segment": raw["segment"].astype("string"),
            "region": raw["region"].astype("string"),
        }
    )
    frame = (
        frame.sort_values(["responded_at", "recorded_at"], kind="stable")
        .drop_duplicates("lead_id", keep="first")
        .reset_index(drop=True)
    )
    derived = frame["responded_at"] - pd.to_timedelta(frame["ttfr_minutes"], unit="min")
    frame["created_at"] = frame["created_at"].fillna(derived)
    if not routing.empty:
        routed = (
            routing[["lead_id", "owner", "segment", "region"]]
            .astype("string")
            .drop_duplicates("lead_id", keep="first")
            .rename(columns={"owner": "r_owner", "segment": "r_segment", "region": "r_region"})
        )
        frame = frame.merge(routed, on="lead_id", how="left")
        for column in ("owner", "segment", "region"):
            frame[column] = frame[column].fillna(frame[f"r_{column}"])
        frame = frame.drop(columns=["r_owner", "r_segment", "r_region"])
    frame["owner"] = frame["owner"].fillna(frame["responder"])
    return frame[list(TTFR_COLUMNS)]


def template_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Template rows typed."""
    return pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "recorded_at": utc(raw["recorded_at"]),
            "template_id": raw["template_id"].astype("string"),
            "intent": raw["intent"].astype("string"),
            "confidence": pd.to_numeric(raw["confidence"], errors="coerce").astype("float64"),
            "source": raw["source"].astype("string"),
            "outcome": raw["outcome"].astype("string"),
            "sent": raw["sent"].astype("bool"),
            "send_attempted": raw["send_attempted"].astype("bool"),
            "blocked_reason": raw["blocked_reason"].astype("string"),
            "fallbacks_used": pd.to_numeric(raw["fallbacks_used"]).astype("int64"),
            "fill_failed": raw["fill_failed"].astype("bool"),
        }
    )


def feedback_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Feedback rows typed."""
    return pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "recorded_at": utc(raw["recorded_at"]),
            "old_owner": raw["old_owner"].astype("string"),
            "new_owner": raw["new_owner"].astype("string"),
            "minutes_since_routing": pd.to_numeric(
                raw["minutes_since_routing"], errors="coerce"
            ).astype("float64"),
        }
    )


def unanswered_frame(findings: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The sweeper's open findings (leads past their SLA with no response) as a frame."""
    rows = [tuple(f.get(c) for c in UNANSWERED_COLUMNS) for f in findings]
    raw = (
        pd.DataFrame.from_records(rows, columns=list(UNANSWERED_COLUMNS))
        if rows
        else empty_frame(UNANSWERED_COLUMNS)
    )
    return pd.DataFrame(
        {
            "lead_id": raw["lead_id"].astype("string"),
            "owner": raw["owner"].astype("string"),
            "segment": raw["segment"].astype("string"),
            "region": raw["region"].astype("string"),
            "created_at": utc(raw["created_at"]),
            "sla_hours": pd.to_numeric(raw["sla_hours"], errors="coerce").astype("float64"),
            "minutes_waiting": pd.to_numeric(raw["minutes_waiting"], errors="coerce").astype(
                "float64"
            ),
            "found_at": utc(raw["found_at"]),
        }
    )
