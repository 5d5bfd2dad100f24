"""Report throughput: the full report (dashboard JSON, three CSVs, HTML with charts) built from
1,000,000 flywheel records of one day in the local store.

The records are generated first (analytics.testing, the records' real shape) into the local
sink's JSONL files; a fresh process then reads them back through the flywheel reader (dedup
included), builds the frames and every metric, and writes the five files. That process reports
its wall time per phase and its peak resident memory (getrusage ru_maxrss), so generation costs
neither time nor memory in the figures.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "report.json"
RECORDS = 1_000_000
DAY = date(2025, 11, 1)
BATCH = 20_000


def generate(folder: Path, count: int = RECORDS) -> dict[str, int]:
    """Write count synthetic records into the local store's files; returns lines per workload."""
    from analytics.testing import synthetic_records
    from shared.flywheel.local import LocalStore

    store = LocalStore(folder)
    pending: dict[tuple[str, date], list[str]] = {}
    written: dict[str, int] = {}

    def drain(key: tuple[str, date]) -> None:
        store.write(key[0], key[1], pending.pop(key))

    for record in synthetic_records(count, day=DAY, seed=1):
        key = (record["workload_id"], date.fromisoformat(record["timestamp"][:10]))
        pending.setdefault(key, []).append(json.dumps(record, separators=(",", ":")))
        written[key[0]] = written.get(key[0], 0) + 1
        if len(pending[key]) >= BATCH:
            drain(key)
    for key in list(pending):
        drain(key)
    return written


def measure(folder: Path, out: Path) -> dict[str, Any]:
    """Read, build and write the report of DAY (and the next day's late responses); time each part."""
    from datetime import timedelta

    from analytics.load import load_frames, unanswered_frame
    from analytics.report import build_report
    from analytics.writers import write_report
    from shared.flywheel.local import LocalStore

    phases: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 2)
        clock = now

    frames = load_frames(LocalStore(folder), DAY, DAY + timedelta(days=1))
    lap("read + frames")
    report = build_report(frames, unanswered_frame([]), start=DAY, end=DAY, now=datetime.now(UTC))
    lap("metrics")
    write_report(report, out)
    lap("write files + charts")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "decisions": frames.decisions,
        "leads_routed": int(report.headline["leads_routed"] or 0),
        "seconds": round(time.perf_counter() - started, 2),
        "phases": phases,
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def run() -> dict[str, Any]:
    """Generate, measure in a fresh process, print and write RESULTS."""
    console = Console()
    with tempfile.TemporaryDirectory() as work:
        folder, out = Path(work) / "flywheel", Path(work) / "reports"
        console.print(f"generating {RECORDS:,} synthetic flywheel records…")
        written = generate(folder)
        size = sum(p.stat().st_size for p in folder.iterdir())
        console.print(
            f"{sum(written.values()):,} records, {size / 2**20:,.0f} MiB of JSONL; building the report…"
        )
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.report_throughput", "--measure", str(folder), str(out)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    table = Table(title="report from 1,000,000 flywheel records (one process)")
    for column in ("decisions", "leads routed", "seconds", "peak RSS MiB", "phases (s)"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['decisions']:,}", f"{result['leads_routed']:,}", f"{result['seconds']:.1f}",
        f"{result['peak_rss_mib']:,.0f}",
        ", ".join(f"{k} {v:.1f}" for k, v in result["phases"].items()),
    )  # fmt: skip
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "report_throughput",
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "jsonl_mib": round(size / 2**20, 1),
                **result,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"written to {RESULTS.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        run()
