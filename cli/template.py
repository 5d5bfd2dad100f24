"""`leadfleet template`: choose and fill the outreach template for leads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from shared.config_files import problems_from
from shared.errors import ConfigError, LeadfleetError
from shared.intent import detect_intent
from shared.models import Lead, TemplateSuggestion
from shared.settings import get_settings
from shared.templates import TemplateCatalog, decide_template, load_templates


def suggest_line(
    text: str, catalog: TemplateCatalog, extra: Mapping[str, str]
) -> TemplateSuggestion:
    """Parse one Lead JSON line, guess its intent by rules and fill the chosen template."""
    try:
        lead = Lead.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError("; ".join(problems_from(exc))) from None
    return decide_template(lead, catalog, detect_intent(lead), source="rules", extra=extra)


def _lead_id(text: str) -> str | None:
    """The Id of a line's lead when the line is a JSON object that has one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    value = data.get("Id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _parse_vars(pairs: Iterable[str]) -> dict[str, str]:
    """NAME=VALUE pairs from --var into template variables."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--var")
        values[name.strip()] = value
    return values


def _dry_run(lines: Iterable[str], catalog: TemplateCatalog, extra: Mapping[str, str]) -> bool:
    """Print one suggestion or error per line; True when every line succeeded."""
    ok = True
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            suggestion = suggest_line(text, catalog, extra)
        except (ValueError, LeadfleetError) as exc:
            ok = False
            error = {"line": number, "lead_id": _lead_id(text), "error": str(exc)}
            typer.echo(json.dumps(error))
            continue
        typer.echo(suggestion.model_dump_json())
    return ok


def template(
    file: Annotated[
        typer.FileText | None,
        typer.Argument(help="JSON Lines of Lead records (Salesforce field names); - for stdin."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Choose and fill templates; send nothing.")
    ] = False,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates", help="Template catalogue; default LEADFLEET_CONFIG__TEMPLATES."
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var", help="NAME=VALUE for a variable not on the lead, e.g. sender_name. Repeatable."
        ),
    ] = None,
    lead_id: Annotated[
        str | None,
        typer.Option(
            "--lead-id",
            help="Run the template workload on this Salesforce lead: suggest and write it.",
        ),
    ] = None,
    send: Annotated[
        bool,
        typer.Option("--send", help="With --lead-id: also send the email (at most once per lead)."),
    ] = False,
) -> None:
    """Print one TemplateSuggestion JSON per lead line; exit 1 if any line failed."""
    if lead_id is not None:
        if dry_run or file is not None:
            raise typer.BadParameter("--lead-id runs on Salesforce; it takes no FILE or --dry-run")
        _run_for_lead(lead_id, send=send)
        return
    if send:
        raise typer.BadParameter("--send needs --lead-id", param_hint="--send")
    if not dry_run:
        typer.echo(
            "only --dry-run (with a FILE) or --lead-id ID is available here; "
            "sending for new leads runs in the worker fleet",
            err=True,
        )
        raise typer.Exit(2)
    if file is None:
        raise typer.BadParameter("a FILE (or - for stdin) is needed with --dry-run")
    extra = _parse_vars(var or [])
    try:
        catalog = load_templates(templates or get_settings().config.templates)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if not _dry_run(file, catalog, extra):
        raise typer.Exit(1)


def _run_for_lead(lead_id: str, *, send: bool) -> None:
    """The template workload on one lead, as a worker runs it; prints the outcome as JSON."""
    from workers.deps import build_deps
    from workers.template_suggest import suggest_template

    try:
        deps = build_deps(get_settings())
        lead = deps.salesforce.get_lead(lead_id)
        outcome = suggest_template(deps, lead, send=send)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except LeadfleetError as exc:
        typer.echo(json.dumps({"lead_id": lead_id, "error": str(exc)}))
        raise typer.Exit(1) from None
    typer.echo(outcome.model_dump_json())


def register(app: typer.Typer) -> None:
    """Attach the `template` command to the main app."""
    app.command("template")(template)
