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

from analytics.frames import (
    FEEDBACK_COLUMNS,
    ROUTING_COLUMNS,
    TEMPLATE_COLUMNS,
    TTFR_COLUMNS,
    empty_frame,
    feedback_frame,
    routing_frame,
    template_frame,
    ttfr_frame,
    unanswered_frame,
    utc,
)
from shared.flywheel.record import WORKLOAD_IDS
from shared.flywheel.store import RecordStore

__all__ = [
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
        return empty_frame(columns)
    frame = pd.DataFrame.from_records(rows, columns=names)
    frame["_at"] = utc(frame["_timestamp"])
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
        routing=routing_frame(routing),
        ttfr=ttfr_frame(_first_copies(rows.ttfr, TTFR_COLUMNS), routing=routing),
        templates=template_frame(_first_copies(rows.templates, TEMPLATE_COLUMNS)),
        feedback=feedback_frame(_first_copies(rows.feedback, FEEDBACK_COLUMNS)),
    )


def store_lines(store: RecordStore, start: date, end: date) -> Iterator[str]:
    """Every stored line of every workload for the days start..end inclusive (copies included)."""
    for workload in WORKLOAD_IDS:
        for location in store.locations(workload, start, end):
            yield from store.read_lines(location)


def load_frames(store: RecordStore, start: date, end: date) -> Frames:
    """The frames of the days start..end inclusive, streamed from the flywheel store."""
    return frames_from_lines(store_lines(store, start, end))
