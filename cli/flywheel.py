"""`leadfleet flywheel`: flush the stream to the store, export for NVIDIA's blueprint, validate.

Records are read from the configured store (LEADFLEET_FLYWHEEL__SINK: the local folder or S3),
one copy per decision. Dates are UTC days, inclusive.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from redis import Redis

from shared.errors import LeadfleetError
from shared.flywheel.export import WorkloadCheck, to_nvidia, validate_export
from shared.flywheel.flusher import build_flusher
from shared.flywheel.reader import ReadReport, read_record_dicts
from shared.flywheel.record import WORKLOAD_IDS, record_json_schema
from shared.flywheel.store import RecordStore, build_store
from shared.settings import get_settings

app = typer.Typer(
    help="The decision records: flush them to the store, export and validate them.",
    no_args_is_help=True,
)

EXIT_FAILED = 1

SinceOption = Annotated[
    datetime | None,
    typer.Option("--since", formats=["%Y-%m-%d"], help="First day (UTC), YYYY-MM-DD."),
]
UntilOption = Annotated[
    datetime | None,
    typer.Option("--until", formats=["%Y-%m-%d"], help="Last day (UTC), YYYY-MM-DD."),
]


def _store() -> RecordStore:
    return build_store(get_settings().flywheel)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def export_lines(
    records: Iterable[dict[str, Any]], *, llm_only: bool = False
) -> Iterator[dict[str, Any]]:
    """The five-key export of each record that carries a decision."""
    for record in records:
        line = to_nvidia(record, llm_only=llm_only)
        if line is not None:
            yield line


def write_jsonl(lines: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write one JSON object per line; returns how many."""
    count = 0
    for line in lines:
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


@app.command("export")
def export(
    out: Annotated[str, typer.Argument(help="Output JSONL file, or - for stdout.")],
    export_format: Annotated[
        str, typer.Option("--format", help="Export format; nvidia (the data-flywheel blueprint).")
    ] = "nvidia",
    workload: Annotated[
        str | None, typer.Option("--workload", help=f"One of {', '.join(WORKLOAD_IDS)}.")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    llm_only: Annotated[
        bool, typer.Option("--llm-only", help="Only decisions a model answered (teacher data).")
    ] = False,
) -> None:
    """Write a workload's decisions as strict five-key JSONL records for the blueprint."""
    if export_format != "nvidia":
        raise typer.BadParameter(f"unknown format {export_format!r}; only nvidia")
    if workload is None or workload not in WORKLOAD_IDS:
        raise typer.BadParameter(f"--workload must be one of {', '.join(WORKLOAD_IDS)}")
    report = ReadReport()
    try:
        records = read_record_dicts(
            _store(), since=_day(since), until=_day(until), workloads=[workload], report=report
        )
    except LeadfleetError as exc:
        typer.echo(f"cannot read records: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    lines = export_lines(records, llm_only=llm_only)
    if out == "-":
        count = write_jsonl(lines, sys.stdout)
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            count = write_jsonl(lines, handle)
    typer.echo(
        json.dumps(
            {
                "workload_id": workload,
                "exported": count,
                "decisions": len(records),
                "copies_dropped": report.duplicates.get(workload, 0),
                "unreadable_lines": report.unreadable,
            }
        ),
        err=True,
    )


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSONL file, and how many lines were not JSON objects."""
    lines: list[dict[str, Any]] = []
    bad = 0
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError:
                bad += 1
                continue
            if isinstance(data, dict):
                lines.append(data)
            else:
                bad += 1
    return lines, bad


@app.command("validate")
def validate(
    since: SinceOption = None,
    until: UntilOption = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False, help="Check an export file instead."),
    ] = None,
) -> None:
    """Per workload: records, duplicate prompts, and whether the blueprint's minimum (50) is met.

    Prints one JSON line per workload; exits 1 when a record would be rejected.
    """
    bad = 0
    if file is not None:
        lines, bad = read_jsonl(file)
    else:
        try:
            records = read_record_dicts(_store(), since=_day(since), until=_day(until))
        except LeadfleetError as exc:
            typer.echo(f"cannot read records: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        lines = list(export_lines(records))
    checks: list[WorkloadCheck] = validate_export(lines)
    for check in checks:
        typer.echo(json.dumps(check.as_dict()))
    if bad:
        typer.echo(f"{bad} line(s) are not JSON objects", err=True)
    if bad or any(check.invalid for check in checks):
        raise typer.Exit(EXIT_FAILED)


@app.command("flush")
def flush() -> None:
    """Move every record waiting in the Redis stream to the store now (also what beat runs)."""
    settings = get_settings()
    if settings.flywheel.sink == "off":
        typer.echo("the flywheel is off (LEADFLEET_FLYWHEEL__SINK=off)", err=True)
        raise typer.Exit(EXIT_FAILED)
    timeout = settings.redis.socket_timeout_seconds
    redis = Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        report = build_flusher(settings, redis).flush()
    except LeadfleetError as exc:
        typer.echo(f"flush failed, records stay in the stream: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        redis.close()
    typer.echo(
        json.dumps(
            {
                "records": report.records,
                "reclaimed": report.reclaimed,
                "objects": report.locations,
                "trimmed": report.trimmed,
                "unreadable": report.unreadable,
                "duration_ms": report.duration_ms,
                "at": datetime.now(UTC).isoformat(),
            }
        )
    )


@app.command("schema")
def schema() -> None:
    """Print the record's JSON Schema (docs/flywheel_record.schema.json is this output)."""
    typer.echo(record_json_schema(), nl=False)
