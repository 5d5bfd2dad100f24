"""Outreach template KPIs from the template frame: usage, confidence, fill failures and sends.

The send success rate is sent over send attempts (sent plus blocked); suggestions made while
sending was off are not attempts.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["blocked_by_reason", "template_summary", "template_usage", "usage_by_intent"]


def template_summary(templates: pd.DataFrame) -> pd.DataFrame:
    """One row: suggestions, mean confidence, fallbacks, fill failures, sends and their success."""
    total = len(templates)
    attempts = int(templates["send_attempted"].sum())
    sent = int(templates["sent"].sum())
    confidence = templates["confidence"].dropna()
    return pd.DataFrame(
        [
            {
                "suggestions": total,
                "confidence_mean": confidence.mean() if len(confidence) else None,
                "with_fallbacks": int((templates["fallbacks_used"] > 0).sum()),
                "fill_failures": int(templates["fill_failed"].sum()),
                "send_attempts": attempts,
                "sent": sent,
                "blocked": attempts - sent,
                "send_success_rate": sent / attempts if attempts else None,
            }
        ]
    )


def _usage(templates: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    keyed = templates.assign(**{k: templates[k].fillna("(none)") for k in keys})
    frame = (
        keyed.groupby(keys, sort=True)
        .agg(
            uses=("lead_id", "size"),
            confidence_mean=("confidence", "mean"),
            sent=("sent", "sum"),
            fill_failures=("fill_failed", "sum"),
        )
        .reset_index()
    )
    frame["share"] = frame["uses"] / len(templates) if len(templates) else 0.0
    frame["sent"] = frame["sent"].astype("int64")
    frame["fill_failures"] = frame["fill_failures"].astype("int64")
    frame = frame.sort_values(["uses", *keys], ascending=[False, *([True] * len(keys))])
    return frame.reset_index(drop=True)[
        [*keys, "uses", "share", "confidence_mean", "sent", "fill_failures"]
    ]


def template_usage(templates: pd.DataFrame) -> pd.DataFrame:
    """Uses per template and intent, with share, mean confidence, sends and fill failures."""
    return _usage(templates, ["template_id", "intent"])


def usage_by_intent(templates: pd.DataFrame) -> pd.DataFrame:
    """Uses per detected intent."""
    return _usage(templates, ["intent"])


def blocked_by_reason(templates: pd.DataFrame) -> pd.DataFrame:
    """Blocked sends per reason (opted_out, bounced, no_email, ...), most frequent first."""
    blocked = templates.loc[templates["send_attempted"] & ~templates["sent"], "blocked_reason"]
    counts = blocked.fillna("(unknown)").value_counts()
    frame = pd.DataFrame({"reason": counts.index.astype(str), "sends": counts.to_numpy()})
    return frame.sort_values(["sends", "reason"], ascending=[False, True]).reset_index(drop=True)
