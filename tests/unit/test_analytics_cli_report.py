"""`leadfleet report` builds the files from the local flywheel folder and prints where they are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics.testing import synthetic_records
from cli.main import app
from shared.flywheel.local import LocalStore
from shared.settings import get_settings


@pytest.fixture
def flywheel_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "flywheel"
    store = LocalStore(folder)
    lines: dict[tuple[str, date], list[str]] = {}
    for record in synthetic_records(600, day=date(2025, 11, 1), seed=2):
        key = (record["workload_id"], date.fromisoformat(record["timestamp"][:10]))
        lines.setdefault(key, []).append(json.dumps(record))
    for (workload, day), batch in lines.items():
        store.write(workload, day, batch)
    monkeypatch.setenv("LEADFLEET_FLYWHEEL__SINK", "local")
    monkeypatch.setenv("LEADFLEET_FLYWHEEL__LOCAL_DIR", str(folder))
    # No Redis here: the report is built without the sweeper's findings.
    monkeypatch.setenv("LEADFLEET_REDIS__URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def test_report_prints_the_five_files(flywheel_dir: Path, tmp_path: Path) -> None:
    """The command writes the day's five files into --out and prints their paths."""
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", "--date", "2025-11-01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = [Path(line) for line in result.output.splitlines() if line.startswith("/")]
    assert sorted(p.name for p in printed) == sorted(
        ["dashboard_20251101.json", "routing_metrics_20251101.csv", "ttfr_metrics_20251101.csv",
         "template_metrics_20251101.csv", "dashboard_20251101.html"]
    )  # fmt: skip
    assert all(p.is_file() and p.parent == out.resolve() for p in printed)
    document = json.loads((out / "dashboard_20251101.json").read_text())
    assert document["headline"]["leads_routed"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "01/11/2025"], "YYYY-MM-DD"),
        (["--date", "2025-11-02", "--until", "2025-11-01"], "before"),
    ],
    ids=["not-iso", "range-backwards"],
)
def test_report_refuses_bad_dates(flywheel_dir: Path, args: list[str], message: str) -> None:
    """A date that is not ISO, or a range that ends before it starts, is a usage error."""
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.output
