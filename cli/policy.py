"""`leadfleet policy ...`: check routing policy files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.errors import ConfigError
from shared.policy import RoutingPolicy, load_policy
from shared.settings import load_settings

app = typer.Typer(help="Inspect and validate the routing policy.", no_args_is_help=True)

EXIT_INVALID = 2


def default_policy_path() -> Path:
    """The policy file named by settings (LEADFLEET_CONFIG__ROUTING_POLICY)."""
    return load_settings().config.routing_policy


def summarize(policy: RoutingPolicy) -> list[str]:
    """A few lines saying what a valid policy contains."""
    segments = ", ".join(f"{n} {s.describe_range()}" for n, s in policy.segments.items())
    regions = ", ".join(f"{n} ({len(c)})" for n, c in policy.regions.items())
    countries = sum(len(c) for c in policy.regions.values())
    users = sum(1 for o in policy.owners.values() if policy.owner_kind(o) == "user")
    pools = ", ".join(
        f"{key} ({len(pool.members)} members, {sum(m.active for m in pool.members)} active)"
        for key, pool in policy.pools.items()
    )
    return [
        f"version: {policy.version}",
        f"segments: {segments}",
        f"regions: {regions}; {countries} countries",
        f"owners: {len(policy.owners)} ({users} users, {len(policy.owners) - users} queues)",
        f"pools: {pools or 'none'}",
        f"queues: default {policy.queues.default}, overflow {policy.queues.overflow}, "
        f"technical {policy.queues.technical}",
    ]


@app.command("check")
def check(
    path: Annotated[
        Path | None,
        typer.Argument(help="Policy JSON file; default: the configured routing policy."),
    ] = None,
) -> None:
    """Validate a routing policy: exit 0 with a summary, or 2 listing every problem."""
    try:
        source = path if path is not None else default_policy_path()
        policy = load_policy(source)
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"{source}: OK")
    for line in summarize(policy):
        typer.echo(f"  {line}")


def report_config_error(exc: ConfigError) -> None:
    """Print every problem of a ConfigError on stderr, each naming its source."""
    for problem in exc.problems:
        named = problem if problem.startswith(exc.source) else f"{exc.source}: {problem}"
        typer.echo(named, err=True)
    typer.echo(f"{len(exc.problems)} problem(s) in {exc.source}", err=True)
