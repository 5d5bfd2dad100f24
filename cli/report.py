"""`leadfleet report`: build a day's (or a range's) report by hand, the same code beat runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from redis import Redis

from shared.errors import LeadfleetError
from shared.settings import get_settings

EXIT_FAILED = 1


def _day(value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def report(
    day: Annotated[
        str | None,
        typer.Option("--date", help="Day to report (YYYY-MM-DD, UTC); today by default."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day of a range starting at --date.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the files; the reports setting by default."),
    ] = None,
) -> None:
    """Build the dashboard JSON, the three CSVs and the HTML dashboard; print where they are."""
    from analytics.jobs import run_report

    now = datetime.now(UTC)
    start = _day(day, now.date())
    end = _day(until, start)
    if end < start:
        raise typer.BadParameter("--until is before --date")
    settings = get_settings()
    timeout = settings.redis.socket_timeout_seconds
    redis = Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        run = run_report(settings, start=start, end=end, now=now, out_dir=out, redis=redis)
    except LeadfleetError as exc:
        typer.echo(f"report failed: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        redis.close()
    typer.echo(f"{run.decisions} decision(s) from {start.isoformat()} to {end.isoformat()}")
    for path in run.files.all():
        typer.echo(str(path.resolve()))
    for key in run.s3_keys:
        typer.echo(f"s3://{settings.flywheel.s3_bucket}/{key}")


def register(app: typer.Typer) -> None:
    """Attach the `report` command to the main app."""
    app.command("report")(report)
