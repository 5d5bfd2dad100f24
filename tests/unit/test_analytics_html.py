"""The dashboard page and the report files: self-contained, every chart drawn, the seed's names."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from analytics.charts import CHART_TITLES
from analytics.html import render_dashboard
from analytics.load import frames_from_records, unanswered_frame
from analytics.report import Report, build_report
from analytics.testing import synthetic_records
from analytics.writers import upload_report, write_report

DAY = date(2025, 11, 1)
NOW = datetime(2025, 11, 2, 0, 30, tzinfo=UTC)
FINDING = {
    "lead_id": "00QWAIT000000001", "owner": "005Lf0000000001AAA", "segment": "Enterprise",
    "region": "NA", "created_at": "2025-11-01T20:00:00Z", "sla_hours": 1.0,
    "minutes_waiting": 270.0, "found_at": "2025-11-02T00:30:00Z",
}  # fmt: skip


def make_report(count: int) -> Report:
    frames = frames_from_records(synthetic_records(count, day=DAY, seed=5))
    return build_report(frames, unanswered_frame([FINDING]), start=DAY, end=DAY, now=NOW)


@pytest.fixture(scope="module")
def report() -> Report:
    return make_report(1500)


def charts_in(page: str) -> dict[str, str]:
    """Chart id -> the figure's markup."""
    return dict(
        re.findall(r'<figure class="chart" data-chart="([^"]+)">(.*?)</figure>', page, re.S)
    )


def test_page_has_headline_first_then_every_chart_as_inline_svg(report: Report) -> None:
    """Headline numbers come before the charts, and each of the five charts is an inline SVG."""
    page = render_dashboard(report)
    charts = charts_in(page)
    assert list(charts) == list(CHART_TITLES)
    for chart_id, markup in charts.items():
        assert CHART_TITLES[chart_id] in markup
        assert "<svg" in markup and "</svg>" in markup
        assert "<path" in markup  # something was drawn
    assert page.index('data-metric="leads_routed"') < page.index('data-chart="routed-per-hour"')
    routed = int(report.headline["leads_routed"])
    assert f"{routed:,}" in page


def test_page_opens_offline(report: Report) -> None:
    """No script, stylesheet, image or font is fetched: only SVG namespaces name a URL."""
    page = render_dashboard(report)
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references inside the page
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
                    "http://purl.org/dc/elements/1.1/", "http://creativecommons.org/ns#",
                    "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}  # fmt: skip


def test_empty_day_still_draws_every_chart_saying_no_data() -> None:
    """A day without records renders the same five charts, each marked 'no data'."""
    empty = build_report(frames_from_records([]), unanswered_frame([]), start=DAY, end=DAY, now=NOW)
    charts = charts_in(render_dashboard(empty))
    assert list(charts) == list(CHART_TITLES)
    assert all("no data" in markup for markup in charts.values())


def test_text_from_records_is_escaped() -> None:
    """A template id holding markup shows as text, never as HTML."""
    records = list(synthetic_records(40, day=DAY, seed=1))
    for record in records:
        if record["workload_id"] == "outreach.template_suggest":
            record["metadata"]["decision"]["template_id"] = "<script>alert(1)</script>"
    hostile = build_report(
        frames_from_records(records), unanswered_frame([]), start=DAY, end=DAY, now=NOW
    )
    page = render_dashboard(hostile)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_write_report_uses_the_seed_names_and_readable_files(
    report: Report, tmp_path: Path
) -> None:
    """Five files named *_YYYYMMDD, JSON and CSV that parse, and no temporary file left behind."""
    files = write_report(report, tmp_path / "reports")
    names = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert names == sorted(
        ["dashboard_20251101.json", "routing_metrics_20251101.csv", "ttfr_metrics_20251101.csv",
         "template_metrics_20251101.csv", "dashboard_20251101.html"]
    )  # fmt: skip
    document = json.loads(files.json.read_text())
    assert document["headline"]["leads_routed"] == report.headline["leads_routed"]
    with files.routing_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == report.headline["leads_routed"]
    assert {"lead_id", "segment", "region", "owner", "confidence", "source"} <= set(rows[0])
    with files.ttfr_csv.open() as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert statuses.count("unanswered") == 1
    assert statuses.count("answered") == len(report.frames.ttfr)
    with files.template_csv.open() as handle:
        usage = list(csv.DictReader(handle))
    assert sum(int(row["uses"]) for row in usage) == len(report.frames.templates)


class FakeS3:
    """Records uploads like boto3's upload_file would perform them."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, str, str, dict[str, Any] | None]] = []

    def upload_file(
        self, Filename: str, Bucket: str, Key: str, ExtraArgs: dict[str, Any] | None = None
    ) -> None:
        self.uploads.append((Filename, Bucket, Key, ExtraArgs))


def test_upload_puts_every_file_under_the_prefix(report: Report, tmp_path: Path) -> None:
    """Each of the five files goes to the bucket under the prefix with its content type."""
    files = write_report(report, tmp_path)
    s3 = FakeS3()
    keys = upload_report(files, s3, bucket="reports-bucket", prefix="/reports/")
    assert keys == [f"reports/{p.name}" for p in files.all()]
    assert {u[1] for u in s3.uploads} == {"reports-bucket"}
    types = {Path(u[0]).suffix: (u[3] or {})["ContentType"] for u in s3.uploads}
    assert types[".html"].startswith("text/html") and types[".json"] == "application/json"
