"""Reading records back: the date range, and one copy per decision (the earliest)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from shared.flywheel.local import LocalStore
from shared.flywheel.reader import ReadReport, dedup, read_record_dicts
from shared.flywheel.record import to_record
from tests.unit.test_flywheel_buffer import raw_record


def test_the_earliest_copy_of_a_decision_is_kept_whatever_the_read_order() -> None:
    """A redelivered run that found the lead routed does not replace the routing itself."""
    routed = json.loads(to_record(raw_record(1)).to_json_line())
    later = json.loads(
        to_record(
            raw_record(1, outcome="duplicate", decision=None, timestamp="2026-03-02T10:00:00Z")
        ).to_json_line()
    )
    assert routed["metadata"]["record_id"] == later["metadata"]["record_id"]
    report = ReadReport()

    kept = dedup([later, routed], report)

    assert [r["metadata"]["outcome"] for r in kept] == ["routed"]
    assert report.duplicates == {"lead.route": 1}


@pytest.mark.parametrize(
    ("since", "until", "days"),
    [
        (None, None, ["01", "02", "03"]),
        (date(2026, 3, 2), None, ["02", "03"]),
        (None, date(2026, 3, 2), ["01", "02"]),
        (date(2026, 3, 2), date(2026, 3, 2), ["02"]),
    ],
    ids=["everything", "since", "until", "one-day"],
)
def test_a_date_range_reads_only_its_days(
    tmp_path: Path, since: date | None, until: date | None, days: list[str]
) -> None:
    """Days are UTC record days, bounds inclusive."""
    store = LocalStore(tmp_path)
    for day in (1, 2, 3):
        raw = raw_record(day, timestamp=f"2026-03-0{day}T12:00:00Z")
        store.write("lead.route", date(2026, 3, day), [to_record(raw).to_json_line()])

    records = read_record_dicts(store, since=since, until=until)

    assert [r["timestamp"][8:10] for r in records] == days
