"""`leadfleet ttfr --dry-run` and `leadfleet template --dry-run`: one JSON line out per line in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli import template, ttfr
from shared.models import FirstTouchDecision, TemplateSuggestion

CONFIG = Path(__file__).resolve().parents[2] / "config"
HOURS = str(CONFIG / "business_hours.json")
TEMPLATES = str(CONFIG / "templates.json")


@pytest.fixture
def app() -> typer.Typer:
    """An app with only the two commands under test."""
    app = typer.Typer()
    ttfr.register(app)
    template.register(app)
    return app


def run(app: typer.Typer, args: list[str], stdin: str | None = None) -> Any:
    """Invoke the app the way a shell would."""
    return CliRunner().invoke(app, args, input=stdin)


def lines_of(*records: Any) -> str:
    """JSON Lines text; strings are written as they are (for malformed lines)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


ANSWERED = {
    "lead": {"Id": "00Q000000000001AAA", "CreatedDate": "2026-03-06T20:30:00.000+0000"},
    "region": "NA",
    "sla_hours": 8,
    "tasks": [
        {
            "Id": "00T000000000001AAA",
            "WhoId": "00Q000000000001AAA",
            "Status": "Completed",
            "Type": "Call",
            "OwnerId": "005000000000001AAA",
            "CreatedDate": "2026-03-09T13:20:00.000+0000",
            "CompletedDateTime": "2026-03-09T13:30:00.000+0000",
        }
    ],
    "emails": [
        {
            "Id": "02s000000000001AAA",
            "Incoming": True,
            "MessageDate": "2026-03-06T21:00:00.000+0000",
        }
    ],
}
UNANSWERED = {
    "lead": {"Id": "00Q000000000002AAA", "CreatedDate": "2026-03-09T13:00:00Z"},
    "emails": [],
}
ALREADY_STORED = {
    "lead": {
        "Id": "00Q000000000003AAA",
        "CreatedDate": "2026-03-09T13:00:00Z",
        "First_Response_At__c": "2026-03-09T13:05:00Z",
    },
    "emails": [
        {"Id": "02s000000000003AAA", "Incoming": False, "MessageDate": "2026-03-09T13:20:00Z"}
    ],
}


def test_ttfr_dry_run_prints_a_decision_per_lead(app: typer.Typer, tmp_path: Path) -> None:
    """Each lead gets a FirstTouchDecision line, in input order, with hours from its region."""
    path = tmp_path / "leads.jsonl"
    path.write_text(lines_of(ANSWERED, UNANSWERED, ALREADY_STORED), encoding="utf-8")
    result = run(
        app,
        ["ttfr", "--dry-run", "--business-hours", HOURS, "--now", "2026-03-09T15:00Z", str(path)],
    )
    assert result.exit_code == 0, result.output
    answered, unanswered, stored = (
        FirstTouchDecision.model_validate_json(line) for line in result.stdout.splitlines()
    )
    # Fri 15:30-17:30 EST (120) + Mon 09:00-09:30 EDT (30).
    assert (answered.source_record_id, answered.business_minutes) == ("00T000000000001AAA", 150.0)
    assert answered.should_write is True
    assert (answered.breached_60_minutes, answered.breached_segment_sla) == (True, True)
    assert unanswered.first_response_at is None
    assert unanswered.breached_60_minutes is True
    assert (stored.should_write, stored.ttfr_minutes) == (False, 5.0)


def test_ttfr_bad_lines_are_reported_and_the_run_goes_on(app: typer.Typer) -> None:
    """A malformed line prints an error naming its line number; later lines are still decided."""
    no_date = {"lead": {"Id": "00Q9"}, "tasks": []}
    bad_task = {"lead": UNANSWERED["lead"], "tasks": [{"Id": "00T9", "Status": "Completed"}]}
    stdin = lines_of("{not json", no_date, "", bad_task, "[1, 2]", UNANSWERED)
    result = run(
        app,
        ["ttfr", "--dry-run", "--business-hours", HOURS, "--now", "2026-03-10T00:00Z", "-"],
        stdin,
    )
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("line") for o in out] == [1, 2, 4, 5, None]
    assert "CreatedDate" in out[1]["error"]
    assert "00T9" in out[2]["error"]
    assert out[4]["lead_id"] == "00Q000000000002AAA"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ttfr", "-"], "only --dry-run"),
        (["ttfr", "--dry-run", "--now", "2026-03-10T00:00", "-"], "offset"),
        (["ttfr", "--dry-run", "--now", "tuesday", "-"], "ISO-8601"),
        (["ttfr", "--dry-run", "--business-hours", "/nonexistent/hours.json", "-"], "hours.json"),
    ],
    ids=["not-dry-run", "naive-now", "unparseable-now", "missing-calendar"],
)
def test_ttfr_usage_errors_exit_2(app: typer.Typer, args: list[str], message: str) -> None:
    """Refusals that concern the whole run exit 2 with the reason and decide nothing."""
    result = run(app, args, lines_of(UNANSWERED))
    assert result.exit_code == 2
    assert message in result.output
    assert result.stdout == ""


def test_template_dry_run_suggests_per_lead(app: typer.Typer) -> None:
    """Each lead gets a filled TemplateSuggestion chosen by its rule-based intent."""
    leads = [
        {"Id": "00Q1", "FirstName": "Ana", "Company": "Acme", "Description": "What is the price?"},
        {"Id": "00Q2", "LeadSource": "Partner Referral", "Company": "{{ ''.__class__ }}"},
    ]
    result = run(
        app,
        ["template", "--dry-run", "--templates", TEMPLATES, "--var", "sender_name=Jo Park", "-"],
        lines_of(*leads),
    )
    assert result.exit_code == 0, result.output
    first, second = (
        TemplateSuggestion.model_validate_json(line) for line in result.stdout.splitlines()
    )
    assert (first.lead_id, first.intent, first.source) == ("00Q1", "pricing", "rules")
    assert first.body.startswith("Hi Ana,")
    assert first.body.rstrip().endswith("Jo Park")
    assert second.intent == "partnership"
    assert "{{ ''.__class__ }}" in second.body


def test_template_fill_errors_name_line_and_lead(app: typer.Typer, tmp_path: Path) -> None:
    """A lead whose template cannot be filled is reported with its line and Id; others go on."""
    catalog = json.loads(Path(TEMPLATES).read_text(encoding="utf-8"))
    for entry in catalog["templates"]:
        entry["fallbacks"].pop("first_name", None)
    strict = tmp_path / "templates.json"
    strict.write_text(json.dumps(catalog), encoding="utf-8")
    stdin = lines_of({"Id": "00Q1"}, "nope", {"Id": "00Q3", "FirstName": "Ana"})
    result = run(app, ["template", "--dry-run", "--templates", str(strict), "-"], stdin)
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0]["line"] == 1
    assert out[0]["lead_id"] == "00Q1"
    assert "first_name" in out[0]["error"]
    assert (out[1]["line"], out[1]["lead_id"]) == (2, None)
    assert out[2]["lead_id"] == "00Q3"
    assert "template_id" in out[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["template", "-"], "only --dry-run"),
        (["template", "--dry-run"], "FILE"),
        (["template", "--dry-run", "--var", "sender_name", "-"], "NAME=VALUE"),
        (["template", "--dry-run", "--templates", "/nonexistent/t.json", "-"], "t.json"),
    ],
    ids=["not-dry-run", "no-file", "bad-var", "missing-catalogue"],
)
def test_template_usage_errors_exit_2(app: typer.Typer, args: list[str], message: str) -> None:
    """Refusals that concern the whole run exit 2 with the reason."""
    result = run(app, args, lines_of({"Id": "00Q1"}))
    assert result.exit_code == 2
    assert message in result.output
