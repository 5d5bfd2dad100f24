"""Every metric of the report matches answers computed here in plain Python from the records."""

from __future__ import annotations

import copy
import math
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest

from analytics.load import frames_from_records, unanswered_frame
from analytics.report import Report, build_report, report_json
from analytics.testing import synthetic_records
from shared.flywheel.record import FlywheelRecord

DAY = date(2025, 11, 1)
NOW = datetime(2025, 11, 2, 1, 0, tzinfo=UTC)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (the definition the report documents)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return percentile(values, 0.5)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


FINDINGS = [
    {"lead_id": "00QWAIT000000001", "owner": "005Lf0000000001AAA", "segment": "Enterprise",
     "region": "NA", "created_at": "2025-11-01T20:00:00Z", "sla_hours": 1.0,
     "minutes_waiting": 300.0, "found_at": "2025-11-02T01:00:00Z"},
    {"lead_id": "00QWAIT000000002", "owner": "005Lf0000000002AAA", "segment": "MM",
     "region": "EMEA", "created_at": "2025-11-01T08:00:00Z", "sla_hours": 8.0,
     "minutes_waiting": 1020.0, "found_at": "2025-11-02T01:00:00Z"},
]  # fmt: skip


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """A day of synthetic records plus what real stores also hold: copies and no-op runs."""
    base = list(synthetic_records(4000, day=DAY, seed=11))
    noise: list[dict[str, Any]] = []
    for record in base[:300:7]:
        later = copy.deepcopy(record)
        later["timestamp"] = later["timestamp"].replace("2025-11-01", "2025-11-02")
        later["metadata"]["decision"] = {"segment": "bogus", "ttfr_minutes": 99999.0}
        noise.append(later)
    route = next(r for r in base if r["workload_id"] == "lead.route")
    duplicate_run = copy.deepcopy(route)
    duplicate_run["metadata"].update(record_id="other-run", outcome="duplicate", decision=None)
    touch = next(r for r in base if r["workload_id"] == "lead.first_touch_detect")
    unchanged = copy.deepcopy(touch)
    unchanged["metadata"].update(record_id="unchanged-run", outcome="unchanged")
    # Copies arrive before the originals here, as they can when files are read in any order.
    return [*noise, duplicate_run, unchanged, *base]


@pytest.fixture(scope="module")
def originals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decisions as a plain-Python reader sees them: earliest copy per id, real runs only."""
    kept: dict[str, dict[str, Any]] = {}
    for record in records:
        rid = record["metadata"]["record_id"]
        if rid not in kept or record["timestamp"] < kept[rid]["timestamp"]:
            kept[rid] = record
    return list(kept.values())


@pytest.fixture(scope="module")
def report(records: list[dict[str, Any]]) -> Report:
    frames = frames_from_records(records)
    return build_report(frames, unanswered_frame(FINDINGS), start=DAY, end=DAY, now=NOW)


def of(
    records: list[dict[str, Any]], workload: str, outcome: str | None = None
) -> list[dict[str, Any]]:
    return [
        r for r in records
        if r["workload_id"] == workload and (outcome is None or r["metadata"]["outcome"] == outcome)
    ]  # fmt: skip


def test_synthetic_records_have_the_flywheel_shape() -> None:
    """The generator's records validate as flywheel records, so the suite tests the real format."""
    for record in list(synthetic_records(400, day=DAY, seed=3)):
        FlywheelRecord.model_validate(record)


def test_routing_totals_mix_and_latency(report: Report, originals: list[dict[str, Any]]) -> None:
    """Leads routed, by segment/region/owner, source mix, latency and override rate match."""
    routed = of(originals, "lead.route", "routed")
    decisions = [r["metadata"]["decision"] for r in routed]
    summary = report.tables["routing_summary"].iloc[0]
    assert summary["leads_routed"] == len(routed)
    for column, table in (("segment", "routing_by_segment"), ("region", "routing_by_region"),
                          ("owner", "routing_by_owner")):  # fmt: skip
        expected = Counter(d[column] for d in decisions)
        got = dict(zip(report.tables[table][column], report.tables[table]["leads"], strict=True))
        assert got == dict(expected)
    mix = dict(zip(report.tables["routing_source_mix"]["source"],
                   report.tables["routing_source_mix"]["leads"], strict=True))  # fmt: skip
    assert mix == {
        s: sum(d["source"] == s for d in decisions) for s in ("rules", "llm", "degraded")
    }
    seconds = [
        (
            parse(r["timestamp"]) - parse(r["metadata"]["decision"]["lead_created_at"])
        ).total_seconds()
        for r in routed
    ]
    assert summary["assign_seconds_median"] == pytest.approx(median(seconds))
    assert summary["assign_seconds_p95"] == pytest.approx(percentile(seconds, 0.95))
    confidences = [d["confidence"] for d in decisions]
    assert summary["confidence_mean"] == pytest.approx(sum(confidences) / len(confidences))
    assert summary["low_confidence"] == sum(c < 0.5 for c in confidences)
    routed_leads = {r["metadata"]["lead_id"] for r in routed}
    overridden = {r["metadata"]["lead_id"] for r in of(originals, "lead.route.feedback")}
    assert summary["override_rate"] == pytest.approx(len(overridden & routed_leads) / len(routed))


def test_confidence_bands_and_hours(report: Report, originals: list[dict[str, Any]]) -> None:
    """Confidence bands, leads per hour and confidence per hour match a plain count."""
    routed = of(originals, "lead.route", "routed")
    bands = Counter()
    for record in routed:
        c = record["metadata"]["decision"]["confidence"]
        bands[
            "0–0.5" if c < 0.5 else "0.5–0.7" if c < 0.7 else "0.7–0.9" if c < 0.9 else "0.9–1"
        ] += 1
    table = report.tables["routing_confidence"]
    assert dict(zip(table["band"], table["leads"], strict=True)) == {
        b: bands[b] for b in ("0–0.5", "0.5–0.7", "0.7–0.9", "0.9–1")
    }
    per_hour: dict[datetime, list[float]] = defaultdict(list)
    for record in routed:
        hour = parse(record["timestamp"]).replace(minute=0, second=0, microsecond=0)
        per_hour[hour].append(record["metadata"]["decision"]["confidence"])
    hourly = report.tables["routed_per_hour"]
    assert {h.to_pydatetime(): n for h, n in zip(hourly["hour"], hourly["leads"], strict=True)} == {
        h: len(v) for h, v in per_hour.items()
    }
    over_time = report.tables["confidence_over_time"]
    for hour, mean_value, low in zip(
        over_time["hour"], over_time["mean"], over_time["min"], strict=True
    ):
        values = per_hour[hour.to_pydatetime()]
        assert (mean_value, low) == (pytest.approx(sum(values) / len(values)), min(values))


def test_ttfr_percentiles_breaches_and_buckets(
    report: Report, originals: list[dict[str, Any]]
) -> None:
    """TTFR median/P90/P95/max, breach rates, business minutes and buckets match."""
    touches = [
        r["metadata"]["decision"] for r in of(originals, "lead.first_touch_detect", "written")
    ]
    minutes = [t["ttfr_minutes"] for t in touches]
    business = [t["business_minutes"] for t in touches]
    summary = report.tables["ttfr_summary"].iloc[0]
    assert summary["answered"] == len(touches)
    assert summary["ttfr_median"] == pytest.approx(median(minutes))
    assert summary["ttfr_p90"] == pytest.approx(percentile(minutes, 0.90))
    assert summary["ttfr_p95"] == pytest.approx(percentile(minutes, 0.95))
    assert summary["ttfr_max"] == pytest.approx(max(minutes))
    assert summary["business_median"] == pytest.approx(median(business))
    assert summary["business_p95"] == pytest.approx(percentile(business, 0.95))
    over_60 = sum(m > 60 for m in minutes)
    assert summary["breach_60_rate"] == pytest.approx(over_60 / len(touches))
    over_sla = sum(t["ttfr_minutes"] > t["sla_hours"] * 60 for t in touches)
    assert summary["breach_sla_rate"] == pytest.approx(over_sla / len(touches))
    assert summary["business_breach_60_rate"] == pytest.approx(
        sum(b > 60 for b in business) / len(touches)
    )
    assert summary["unanswered_past_sla"] == len(FINDINGS)
    assert summary["unanswered_oldest_minutes"] == 1020.0
    assert summary["breach_sla_rate_with_unanswered"] == pytest.approx(
        (over_sla + len(FINDINGS)) / (len(touches) + len(FINDINGS))
    )
    buckets = Counter(
        "0–15" if m <= 15 else "15–30" if m <= 30 else "30–60" if m <= 60 else "60+"
        for m in minutes
    )
    table = report.tables["ttfr_buckets"]
    assert dict(zip(table["bucket"], table["leads"], strict=True)) == {
        b: buckets[b] for b in ("0–15", "15–30", "30–60", "60+")
    }


def test_ttfr_by_owner_and_region_use_the_routing_decision(
    report: Report, originals: list[dict[str, Any]]
) -> None:
    """TTFR per owner and region groups each answered lead under its routed owner and region."""
    routed = {
        r["metadata"]["lead_id"]: r["metadata"]["decision"]
        for r in of(originals, "lead.route", "routed")
    }
    touches = [r["metadata"] for r in of(originals, "lead.first_touch_detect", "written")]
    for column, table_name in (("owner", "ttfr_by_owner"), ("region", "ttfr_by_region")):
        groups: dict[str, list[float]] = defaultdict(list)
        for meta in touches:
            groups[routed[meta["lead_id"]][column]].append(meta["decision"]["ttfr_minutes"])
        table = report.tables[table_name].set_index(column)
        assert set(table.index) == set(groups)
        for key, values in groups.items():
            row = table.loc[key]
            assert row["leads"] == len(values)
            assert row["median"] == pytest.approx(median(values))
            assert row["p95"] == pytest.approx(percentile(values, 0.95))
            assert row["breach_60_rate"] == pytest.approx(sum(v > 60 for v in values) / len(values))


def test_ttfr_trend_per_hour(report: Report, originals: list[dict[str, Any]]) -> None:
    """The TTFR trend's hourly median and P95 match, by the hour of the first response."""
    hours: dict[datetime, list[float]] = defaultdict(list)
    for record in of(originals, "lead.first_touch_detect", "written"):
        decision = record["metadata"]["decision"]
        hour = parse(decision["first_response_at"]).replace(minute=0, second=0, microsecond=0)
        hours[hour].append(decision["ttfr_minutes"])
    trend = report.tables["ttfr_trend"]
    assert len(trend) == len(hours)
    for hour, mid, p95 in zip(trend["hour"], trend["median"], trend["p95"], strict=True):
        values = hours[hour.to_pydatetime()]
        assert (mid, p95) == (
            pytest.approx(median(values)),
            pytest.approx(percentile(values, 0.95)),
        )


def test_template_usage_sends_and_blocks(report: Report, originals: list[dict[str, Any]]) -> None:
    """Usage by template and intent, confidence, send success rate and blocked reasons match."""
    suggestions = of(originals, "outreach.template_suggest")
    usage = Counter((r["metadata"]["decision"]["template_id"], r["metadata"]["decision"]["intent"])
                    for r in suggestions)  # fmt: skip
    table = report.tables["template_usage"]
    got = {
        (t, i): n
        for t, i, n in zip(table["template_id"], table["intent"], table["uses"], strict=True)
    }
    assert got == dict(usage)
    outcomes = Counter(r["metadata"]["outcome"] for r in suggestions)
    summary = report.tables["template_summary"].iloc[0]
    assert summary["suggestions"] == len(suggestions)
    assert summary["sent"] == outcomes["sent"]
    assert summary["send_attempts"] == outcomes["sent"] + outcomes["blocked"]
    assert summary["send_success_rate"] == pytest.approx(
        outcomes["sent"] / (outcomes["sent"] + outcomes["blocked"])
    )
    assert summary["with_fallbacks"] == sum(
        bool(r["metadata"]["decision"]["fallbacks_used"]) for r in suggestions
    )
    confidences = [r["metadata"]["decision"]["confidence"] for r in suggestions]
    assert summary["confidence_mean"] == pytest.approx(sum(confidences) / len(confidences))
    blocked = Counter(
        r["metadata"]["blocked"] for r in suggestions if r["metadata"]["outcome"] == "blocked"
    )
    reasons = report.tables["template_blocked"]
    assert dict(zip(reasons["reason"], reasons["sends"], strict=True)) == dict(blocked)


def test_report_json_is_plain_json_with_the_headline(report: Report) -> None:
    """The dashboard JSON has the headline numbers and no NaN (null instead)."""
    document = report_json(report)
    assert document["headline"]["leads_routed"] == int(
        report.tables["routing_summary"].iloc[0]["leads_routed"]
    )
    assert document["headline"]["unanswered_past_sla"] == 2
    assert [row["lead_id"] for row in document["unanswered"]] == [f["lead_id"] for f in FINDINGS]
    pd.io.json.ujson_dumps(document)  # raises on NaN or non-JSON values


def test_an_empty_period_gives_empty_tables_not_errors() -> None:
    """A day without records still builds every table, with zero counts and null percentiles."""
    report = build_report(
        frames_from_records([]), unanswered_frame([]), start=DAY, end=DAY, now=NOW
    )
    assert report.headline["leads_routed"] == 0
    assert report.headline["ttfr_median"] is None
    assert report.tables["ttfr_buckets"]["leads"].sum() == 0
    assert report.tables["routed_per_hour"].empty
