"""The dashboard renders in headless Chromium with every chart drawn (Debian's chromium package)."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from analytics.charts import CHART_TITLES
from analytics.load import frames_from_records, unanswered_frame
from analytics.report import build_report
from analytics.testing import synthetic_records
from analytics.writers import write_report

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")
DAY = date(2025, 11, 1)
# The chart colours (analytics.charts): blue bars and lines, orange P95, purple templates.
BLUE, ORANGE, PURPLE = (0x25, 0x63, 0xEB), (0xEA, 0x58, 0x0C), (0x7C, 0x3A, 0xED)


class ChartCollector(HTMLParser):
    """Collects each chart figure's id, caption and whether it holds a drawn SVG."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, dict[str, object]] = {}
        self._current: str | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and values.get("data-chart"):
            self._current = str(values["data-chart"])
            self.charts[self._current] = {"caption": "", "svg": False, "shapes": 0}
        elif self._current is not None:
            chart = self.charts[self._current]
            if tag == "svg":
                chart["svg"] = True
            elif tag in ("path", "use", "rect"):
                chart["shapes"] = int(str(chart["shapes"])) + 1
            elif tag == "figcaption":
                self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption":
            self._in_caption = False
        elif tag == "figure":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._in_caption and self._current is not None:
            self.charts[self._current]["caption"] = (
                str(self.charts[self._current]["caption"]) + data
            )


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not CHROMIUM.exists():
        pytest.fail("chromium is missing: run `make browser` (apt-get install chromium)")
    frames = frames_from_records(synthetic_records(3000, day=DAY, seed=9))
    report = build_report(
        frames, unanswered_frame([]), start=DAY, end=DAY, now=datetime(2025, 11, 2, tzinfo=UTC)
    )
    return write_report(report, tmp_path_factory.mktemp("reports")).html


def test_dom_holds_every_chart_with_its_title(dashboard: Path, tmp_path: Path) -> None:
    """Chromium's DOM has the five charts, each an SVG with drawn shapes under its title."""
    dom = chromium("--dump-dom", dashboard.as_uri(), profile=tmp_path / "profile").stdout
    collector = ChartCollector()
    collector.feed(dom)
    assert list(collector.charts) == list(CHART_TITLES)
    for chart_id, chart in collector.charts.items():
        assert chart["caption"] == CHART_TITLES[chart_id]
        assert chart["svg"] is True
        assert int(str(chart["shapes"])) > 5, f"{chart_id} has nothing drawn"
    assert re.search(r'data-metric="leads_routed".*?class="value">[\d,]+<', dom, re.S)


def test_screenshot_shows_the_charts(dashboard: Path, tmp_path: Path) -> None:
    """The screenshot is not blank: many colours, and the charts' own colours cover real area."""
    png = tmp_path / "dashboard.png"
    chromium(
        f"--screenshot={png}",
        "--window-size=1400,2400",
        dashboard.as_uri(),
        profile=tmp_path / "profile",
    )
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1400, 2400)
        colours = rgb.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 50
    area = {name: sum(n for n, pixel in colours if near(pixel, colour))
            for name, colour in (("blue", BLUE), ("orange", ORANGE), ("purple", PURPLE))}  # fmt: skip
    # Bars are thousands of pixels; a chart that failed to draw leaves none of its colour.
    assert area["blue"] > 5000, area
    assert area["purple"] > 5000, area
    assert area["orange"] > 500, area
