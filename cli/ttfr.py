"""`leadfleet ttfr`: time to first response decisions for leads and their activity records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.business_hours import BusinessCalendar, load_business_hours
from shared.config_files import problems_from
from shared.errors import ConfigError, LeadfleetError
from shared.models import FirstTouchDecision, Lead
from shared.settings import get_settings
from shared.ttfr import ResponseCandidate, decide_first_touch


class TtfrDryRunLine(BaseModel):
    """One input line: a lead, its owner's region and segment SLA, and its Tasks and emails."""

    model_config = ConfigDict(extra="forbid")

    lead: Lead
    region: str | None = None
    sla_hours: float | None = Field(default=None, gt=0)
    tasks: list[dict[str, Any]] = Field(default_factory=list)
    emails: list[dict[str, Any]] = Field(default_factory=list)


def decide_line(text: str, calendar: BusinessCalendar, now: datetime) -> FirstTouchDecision:
    """Parse one JSON line and decide its lead's first touch; raises ValueError or LeadfleetError."""
    try:
        item = TtfrDryRunLine.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError("; ".join(problems_from(exc))) from None
    lead = item.lead
    if not lead.Id:
        raise ValueError("lead.Id: required")
    if lead.CreatedDate is None:
        raise ValueError("lead.CreatedDate: required")
    candidates = [ResponseCandidate.from_task(t) for t in item.tasks]
    candidates += [ResponseCandidate.from_email(e) for e in item.emails]
    return decide_first_touch(
        lead_id=lead.Id,
        created_at=lead.CreatedDate,
        stored_first_response_at=lead.First_Response_At__c,
        candidates=candidates,
        hours=calendar.for_region(item.region),
        sla_hours=item.sla_hours,
        now=now,
    )


def _parse_now(value: str | None) -> datetime:
    """The --now instant (ISO-8601 with an offset), or the current time."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected an ISO-8601 date-time", param_hint="--now") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter(
            "expected an offset such as +00:00 or Z", param_hint="--now"
        ) from None
    return parsed


def ttfr(
    file: Annotated[
        typer.FileText,
        typer.Argument(
            help="JSON Lines, one lead with its tasks and emails per line; - for stdin."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and print; write nothing to Salesforce.")
    ] = False,
    business_hours: Annotated[
        Path | None,
        typer.Option(
            "--business-hours",
            help="Business hours file; default LEADFLEET_CONFIG__BUSINESS_HOURS.",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="Instant that unanswered leads are measured against (ISO-8601)."
        ),
    ] = None,
) -> None:
    """Print one FirstTouchDecision JSON per input line; exit 1 if any line failed."""
    if not dry_run:
        typer.echo(
            "only --dry-run is available: writing First_Response_At__c needs the worker fleet",
            err=True,
        )
        raise typer.Exit(2)
    at = _parse_now(now)
    try:
        calendar = load_business_hours(business_hours or get_settings().config.business_hours)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    failed = False
    for number, text in enumerate(file, start=1):
        if not text.strip():
            continue
        try:
            decision = decide_line(text, calendar, at)
        except (ValueError, LeadfleetError) as exc:
            failed = True
            typer.echo(json.dumps({"line": number, "error": str(exc)}))
            continue
        typer.echo(decision.model_dump_json())
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the `ttfr` command to the main app."""
    app.command("ttfr")(ttfr)
