"""`leadfleet route`: route leads from JSON Lines without touching Salesforce.

Input: one Lead record per line with Salesforce field names (unknown fields are ignored). Output:
one JSON object per non-blank input line, in input order, with exactly the keys of ROUTE_KEYS; a
line that cannot be read prints ``{"line": N, "error": "..."}`` instead (N counts every physical
line from 1, blank ones included) and the run goes on. Blank lines are skipped because editors and
shell pipelines add them; they are not records. Exit 0 when every line was routed, 1 when any line
failed, 2 when the command or the policy is unusable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from pydantic import ValidationError

from cli.policy import EXIT_INVALID, default_policy_path, report_config_error
from shared.errors import ConfigError
from shared.models import Lead, RoutingDecision
from shared.policy import RoutingPolicy, load_policy
from shared.routing import PoolState, decide_route

ROUTE_KEYS = (
    "lead_id",
    "segment",
    "region",
    "owner",
    "reason",
    "confidence",
    "source",
    "needs_review",
)
EXIT_LINE_FAILED = 1


class LlmMode(StrEnum):
    """Which LLM a routing run may ask when rules are unsure."""

    off = "off"


def _lead_from(record: dict[str, Any]) -> Lead:
    """A Lead from one input object; unknown fields are ignored."""
    return Lead.model_validate(record)


def _line_error(exc: ValidationError) -> str:
    """The fields of a record that have the wrong type, as one sentence."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"field {field}: {err['msg']}")
    return "; ".join(parts)


def _pool_member_picked(decision: RoutingDecision, policy: RoutingPolicy) -> bool:
    """Whether a decision's owner came out of the pool for its segment × region."""
    if decision.segment is None or decision.region is None:
        return False
    pool = policy.pools.get(policy.owner_key(decision.segment, decision.region))
    return pool is not None and any(m.id == decision.owner for m in pool.members)


def route_lines(lines: Iterable[str], policy: RoutingPolicy) -> Iterator[dict[str, Any]]:
    """Route each JSON Lines record in order, carrying pool state from one lead to the next."""
    state = PoolState()
    for number, line in enumerate(lines, start=1):
        text = line.lstrip("\ufeff") if number == 1 else line
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield {"line": number, "error": f"invalid JSON: {exc.msg} at column {exc.colno}"}
            continue
        if not isinstance(record, dict):
            found = "null" if record is None else type(record).__name__
            yield {"line": number, "error": f"expected a JSON object, found {found}"}
            continue
        try:
            lead = _lead_from(record)
        except ValidationError as exc:
            yield {"line": number, "error": _line_error(exc)}
            continue
        decision = decide_route(lead, policy, pool_state=state)
        if _pool_member_picked(decision, policy):
            state = state.with_pick(decision.owner)
        dumped = decision.model_dump()
        yield {key: dumped[key] for key in ROUTE_KEYS}


def _open_input(file: str) -> IO[str]:
    """The input stream: stdin for "-", otherwise the named file."""
    if file == "-":
        return sys.stdin
    return Path(file).open(encoding="utf-8-sig")


def route(
    file: Annotated[str, typer.Argument(help='JSON Lines of Lead records, or "-" for stdin.')],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and print; write nothing to Salesforce.")
    ] = False,
    policy_path: Annotated[
        Path | None,
        typer.Option("--policy", help="Routing policy JSON; default: the configured policy."),
    ] = None,
    llm: Annotated[
        LlmMode, typer.Option("--llm", help="LLM to ask when rules are unsure.")
    ] = LlmMode.off,
) -> None:
    """Route leads from JSON Lines and print one decision per line."""
    if not dry_run:
        typer.echo(
            "only --dry-run is available: routing that writes owners runs in the worker fleet",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID)
    try:
        policy = load_policy(policy_path if policy_path is not None else default_policy_path())
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        stream = _open_input(file)
    except OSError as exc:
        typer.echo(f"{file}: cannot read file: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    failed = False
    try:
        for result in route_lines(stream, policy):
            failed = failed or "error" in result
            typer.echo(json.dumps(result))
    except UnicodeDecodeError as exc:
        typer.echo(f"{file}: not UTF-8 text ({exc.reason})", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    if failed:
        raise typer.Exit(EXIT_LINE_FAILED)


def register(app: typer.Typer) -> None:
    """Attach the `route` command to the main app."""
    app.command("route")(route)
