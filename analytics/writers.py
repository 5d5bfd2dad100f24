"""Write a report's files (the seed's names) and upload them to S3 when S3 is configured.

``reports/dashboard_YYYYMMDD.json`` (every metric), ``routing_metrics_YYYYMMDD.csv`` (one row
per routing decision), ``ttfr_metrics_YYYYMMDD.csv`` (one row per answered lead, then one per
lead still unanswered past its SLA), ``template_metrics_YYYYMMDD.csv`` (usage per template and
intent) and ``dashboard_YYYYMMDD.html``. Each file is written beside itself and renamed into
place, so the hourly rebuild never leaves a reader half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from analytics.html import render_dashboard
from analytics.report import Report, report_json

__all__ = ["ReportFiles", "S3Uploader", "upload_report", "write_report"]

_CONTENT_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class ReportFiles:
    """Where one report's five files were written."""

    json: Path
    routing_csv: Path
    ttfr_csv: Path
    template_csv: Path
    html: Path

    def all(self) -> list[Path]:
        """Every file, dashboard JSON first."""
        return [self.json, self.routing_csv, self.ttfr_csv, self.template_csv, self.html]


class S3Uploader(Protocol):
    """The part of a boto3 S3 client the upload uses."""

    def upload_file(
        self, Filename: str, Bucket: str, Key: str, ExtraArgs: dict[str, Any] | None = None
    ) -> None:
        """Upload one file."""
        ...


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _csv(frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")

    return write


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def _ttfr_rows(report: Report) -> pd.DataFrame:
    answered = report.frames.ttfr.drop(columns=["record_id", "recorded_at"]).assign(
        status="answered"
    )
    waiting = report.unanswered.rename(columns={"found_at": "checked_at"}).assign(
        status="unanswered"
    )
    columns = ["status", *answered.columns.drop("status")]
    if waiting.empty:
        return answered[columns]
    return pd.concat([answered, waiting], ignore_index=True)[
        [*columns, "minutes_waiting", "checked_at"]
    ]


def write_report(report: Report, out_dir: Path) -> ReportFiles:
    """Write the report's five files into out_dir (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.stamp
    files = ReportFiles(
        json=out_dir / f"dashboard_{stamp}.json",
        routing_csv=out_dir / f"routing_metrics_{stamp}.csv",
        ttfr_csv=out_dir / f"ttfr_metrics_{stamp}.csv",
        template_csv=out_dir / f"template_metrics_{stamp}.csv",
        html=out_dir / f"dashboard_{stamp}.html",
    )
    document = json.dumps(report_json(report), indent=2, ensure_ascii=False)
    _write_atomically(files.json, _text(document + "\n"))
    routing = report.frames.routing.drop(columns=["record_id"])
    _write_atomically(files.routing_csv, _csv(routing))
    _write_atomically(files.ttfr_csv, _csv(_ttfr_rows(report)))
    _write_atomically(files.template_csv, _csv(report.tables["template_usage"]))
    _write_atomically(files.html, _text(render_dashboard(report)))
    return files


def upload_report(files: ReportFiles, s3: S3Uploader, *, bucket: str, prefix: str) -> list[str]:
    """Upload every file to s3://bucket/prefix/<name>; returns the keys written."""
    keys: list[str] = []
    for path in files.all():
        key = f"{prefix.strip('/')}/{path.name}" if prefix.strip("/") else path.name
        content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
        keys.append(key)
    return keys
