"""The one place flywheel records become DataFrames: one frame per workload, one row per decision.

Records are the flywheel's (shared/flywheel/record.py): ``timestamp``, ``workload_id`` and
``metadata`` with ``record_id``, ``lead_id``, ``outcome``, ``source``, ``latency_ms``, ``owner``,
``blocked`` and ``decision`` (the decision's own fields). Only those keys are read, so a JSON
line is enough and no record model is built per row (a day can hold millions).

Rules:

- copies of one decision share a record_id; the earliest copy is kept;
- routing rows are the decisions that gave a lead its owner (outcome ``routed``); a lead routed
  twice (it cannot be, but records are data) keeps its first routing;
- first-touch rows are the responses written (outcome ``written``); a lead keeps its earliest
  response, because First_Response_At__c only moves earlier;
- a first-touch row takes the lead's owner, segment and region from the lead's routing row
  (first-touch records do not carry them), and falls back to the responding user as owner;
- a lead's CreatedDate comes from the decision's ``lead_created_at`` when the record carries it,
  else from the first response minus its TTFR minutes; create-to-assigned latency is known only
  for leads with a CreatedDate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
import pandas as pd

from shared.flywheel.record import WORKLOAD_IDS
from shared.flywheel.store import RecordStore

__all__ = [
    "FEEDBACK_COLUMNS",
    "ROUTING_COLUMNS",
    "TEMPLATE_COLUMNS",
    "TTFR_COLUMNS",
    "UNANSWERED_COLUMNS",
    "Frames",
    "decode_lines",
    "frames_from_lines",
    "frames_from_records",
    "load_frames",
    "store_lines",
    "unanswered_frame",
]

ROUTE = "lead.route"
FIRST_TOUCH = "lead.first_touch_detect"
TEMPLATE = "outreach.template_suggest"
FEEDBACK = "lead.route.feedback"

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
_SEND_OUTCOMES = frozenset({"sent", "blocked"})
_FILL_FAILED = frozenset({"fill_failed", "failed"})


@dataclass(frozen=True)
class Frames:
    """The decisions of a period, one frame per workload (columns as in the *_COLUMNS tuples)."""

    routing: pd.DataFrame
    ttfr: pd.DataFrame
    templates: pd.DataFrame
    feedback: pd.DataFrame

    @property
    def decisions(self) -> int:
        """Rows across the four frames: the decisions the period holds."""
        return len(self.routing) + len(self.ttfr) + len(self.templates) + len(self.feedback)


class _Metadata(msgspec.Struct):
    """The metadata keys analytics reads; the rest of a record is skipped while decoding."""

    record_id: str | None = None
    lead_id: str | None = None
    outcome: str | None = None
    source: str | None = None
    latency_ms: float | None = None
    owner: str | None = None
    blocked: str | None = None
    decision: dict[str, Any] | None = None


class _Line(msgspec.Struct):
    """One record as analytics sees it: when, which workload, and the metadata."""

    timestamp: str = ""
    workload_id: str = ""
    metadata: _Metadata | None = None


_DECODER = msgspec.json.Decoder(_Line)
_NO_DECISION: dict[str, Any] = {}


def _utc(values: Any) -> pd.Series:
    # One resolution for every instant column, so arithmetic and fillna never mix units.
    parsed = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
    return parsed.dt.as_unit("ns")


def _as_line(record: Any) -> _Line:
    """A record dict (or record model) as the fields analytics reads."""
    if not isinstance(record, Mapping):
        dump = getattr(record, "model_dump", None)
        if dump is None:
            raise TypeError(f"not a flywheel record: {type(record).__name__}")
        record = dump(mode="json", include={"timestamp", "workload_id", "metadata"})
    return msgspec.convert(record, _Line, strict=False)


def decode_lines(lines: Iterable[str | bytes]) -> Iterator[_Line]:
    """JSONL lines as records; a line that is not a record (a torn write) is skipped."""
    for line in lines:
        try:
            yield _DECODER.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue


class _Rows:
    """Rows per workload, each led by (record_id, timestamp, kept) for the copy rule."""

    def __init__(self) -> None:
        self.routing: list[tuple[Any, ...]] = []
        self.ttfr: list[tuple[Any, ...]] = []
        self.templates: list[tuple[Any, ...]] = []
        self.feedback: list[tuple[Any, ...]] = []

    def add(self, line: _Line) -> None:
        meta = line.metadata
        if meta is None:
            return
        decision = meta.decision or _NO_DECISION
        outcome = meta.outcome
        lead_id = meta.lead_id or decision.get("lead_id")
        head = (meta.record_id, line.timestamp)
        workload = line.workload_id
        if workload == ROUTE:
            kept = outcome in (None, "routed") and bool(decision or meta.owner)
            self.routing.append(
                (*head, kept, lead_id, line.timestamp, decision.get("lead_created_at"),
                 decision.get("segment"), decision.get("region"),
                 decision.get("owner") or meta.owner, decision.get("owner_kind"),
                 decision.get("confidence"), decision.get("source") or meta.source,
                 meta.latency_ms)
            )  # fmt: skip
        elif workload == FIRST_TOUCH:
            kept = outcome in (None, "written") and decision.get("ttfr_minutes") is not None
            self.ttfr.append(
                (*head, kept, lead_id, line.timestamp, decision.get("first_response_at"),
                 decision.get("lead_created_at"), decision.get("ttfr_minutes"),
                 decision.get("business_minutes"), decision.get("sla_hours"),
                 decision.get("first_response_user"), decision.get("owner"),
                 decision.get("segment"), decision.get("region"))
            )  # fmt: skip
        elif workload == TEMPLATE:
            fallbacks = decision.get("fallbacks_used")
            self.templates.append(
                (*head, True, lead_id, line.timestamp, decision.get("template_id"),
                 decision.get("intent"), decision.get("confidence"),
                 decision.get("source") or meta.source, outcome, outcome == "sent",
                 outcome in _SEND_OUTCOMES, meta.blocked if outcome == "blocked" else None,
                 len(fallbacks) if isinstance(fallbacks, list) else 0, outcome in _FILL_FAILED)
            )  # fmt: skip
        elif workload == FEEDBACK:
            self.feedback.append(
                (*head, True, lead_id, line.timestamp, decision.get("old_owner"),
                 decision.get("new_owner"), decision.get("minutes_since_routing"))
            )  # fmt: skip


_HEAD = ("_record_id", "_timestamp", "_kept")


def _first_copies(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a frame with one copy per record_id (the earliest) and only kept outcomes."""
    names = [*_HEAD, *columns[1:]]
    if not rows:
        return _empty(columns)
    frame = pd.DataFrame.from_records(rows, columns=names)
    frame["_at"] = _utc(frame["_timestamp"])
    frame = frame.sort_values("_at", kind="stable")
    ids = frame["_record_id"]
    first = ids.isna() | ~ids.duplicated(keep="first")
    frame = frame.loc[first & frame["_kept"].astype(bool)]
    frame = frame.drop(columns=["_timestamp", "_kept", "_at"]).rename(
        columns={"_record_id": "record_id"}
    )
    return frame.reset_index(drop=True)


def frames_from_lines(lines: Iterable[str | bytes]) -> Frames:
    """Frames from JSONL lines, decoding only the fields analytics reads (see module rules)."""
    return _frames(decode_lines(lines))


def frames_from_records(records: Iterable[Any]) -> Frames:
    """Frames from record dicts or models (see module rules)."""
    return _frames(_as_line(r) for r in records)


def _frames(lines: Iterable[_Line]) -> Frames:
    rows = _Rows()
    for line in lines:
        rows.add(line)
    routing = _first_copies(rows.routing, ROUTING_COLUMNS[:-1])
    return Frames(
        routing=_routing_frame(routing),
        ttfr=_ttfr_frame(_first_copies(rows.ttfr, TTFR_COLUMNS), routing=routing),
        templates=_template_frame(_first_copies(rows.templates, TEMPLATE_COLUMNS)),
        feedback=_feedback_frame(_first_copies(rows.feedback, FEEDBACK_COLUMNS)),
    )


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _routing_frame(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "assigned_at": _utc(raw["assigned_at"]),
            "created_at": _utc(raw["created_at"]),
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


def _ttfr_frame(raw: pd.DataFrame, *, routing: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "recorded_at": _utc(raw["recorded_at"]),
            "responded_at": _utc(raw["responded_at"]),
            "created_at": _utc(raw["created_at"]),
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


def _template_frame(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "recorded_at": _utc(raw["recorded_at"]),
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


def _feedback_frame(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": raw["record_id"].astype("string"),
            "lead_id": raw["lead_id"].astype("string"),
            "recorded_at": _utc(raw["recorded_at"]),
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
        else _empty(UNANSWERED_COLUMNS)
    )
    return pd.DataFrame(
        {
            "lead_id": raw["lead_id"].astype("string"),
            "owner": raw["owner"].astype("string"),
            "segment": raw["segment"].astype("string"),
            "region": raw["region"].astype("string"),
            "created_at": _utc(raw["created_at"]),
            "sla_hours": pd.to_numeric(raw["sla_hours"], errors="coerce").astype("float64"),
            "minutes_waiting": pd.to_numeric(raw["minutes_waiting"], errors="coerce").astype(
                "float64"
            ),
            "found_at": _utc(raw["found_at"]),
        }
    )


def store_lines(store: RecordStore, start: date, end: date) -> Iterator[str]:
    """Every stored line of every workload for the days start..end inclusive (copies included)."""
    for workload in WORKLOAD_IDS:
        for location in store.locations(workload, start, end):
            yield from store.read_lines(location)


def load_frames(store: RecordStore, start: date, end: date) -> Frames:
    """The frames of the days start..end inclusive, streamed from the flywheel store."""
    return frames_from_lines(store_lines(store, start, end))
