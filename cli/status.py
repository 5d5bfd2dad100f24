"""`leadfleet status`: the listener, queues, dead letters, token, API usage and open alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from redis import Redis
from rich.console import Console
from rich.table import Table

from shared.settings import get_settings

if TYPE_CHECKING:
    from analytics.status import FleetStatus

EXIT_UNHEALTHY = 1


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the fleet's state; exit 1 when the listener is not ready or an alert is open."""
    # Imported here: analytics loads pandas, which other commands do not need.
    from analytics.status import gather_status

    settings = get_settings()
    timeout = settings.redis.socket_timeout_seconds
    redis = Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        found = gather_status(settings, redis, now=datetime.now(UTC))
    finally:
        redis.close()
    if as_json:
        typer.echo(json.dumps(found.as_json(), indent=2))
    else:
        _print(found)
    if not found.listener.ready or found.alerts or found.error:
        raise typer.Exit(EXIT_UNHEALTHY)


def _print(found: FleetStatus) -> None:
    console = Console()
    overview = Table(title="leadfleet status", show_header=False, title_justify="left")
    overview.add_column("what", style="bold")
    overview.add_column("state")
    probe = found.listener
    listener = (
        "[green]ready[/]"
        if probe.ready
        else f"[red]not ready[/] ({'; '.join(probe.failing)})"
        if probe.reachable
        else "[red]no answer[/]"
    )
    overview.add_row("listener", f"{listener} at {found.listener_url}")
    for checkpoint in found.checkpoints:
        overview.add_row(
            f"  {checkpoint.topic}", f"checkpoint {_seconds(checkpoint.age_seconds)} ago"
        )
    if found.token_valid is None:
        session = "unknown"
    elif found.token_valid and found.token_expires_at is not None:
        session = f"[green]valid[/] until {found.token_expires_at:%Y-%m-%d %H:%M} UTC"
    else:
        session = "[yellow]none cached[/] (the next call logs in)"
    overview.add_row("salesforce token", session)
    if found.api_used is not None and found.api_max:
        share = found.api_used / found.api_max
        colour = "red" if share >= settings_share() else "green"
        overview.add_row(
            "API usage", f"[{colour}]{share:.0%}[/] ({found.api_used:,} of {found.api_max:,} today)"
        )
    else:
        overview.add_row("API usage", "not recorded yet")
    overview.add_row(
        "dead letters", "unknown" if found.dead_letters is None else str(found.dead_letters)
    )
    beat = (
        f"[green]running[/] (lock held, {found.beat_lock_ttl_seconds:.0f} s left)"
        if found.beat_lock_ttl_seconds is not None
        else "[yellow]no beat holds the lock[/]"
    )
    overview.add_row("beat", beat)
    if found.unanswered_past_sla is not None:
        overview.add_row("unanswered past SLA", str(found.unanswered_past_sla))
    if found.error:
        overview.add_row("error", f"[red]{found.error}[/]")
    console.print(overview)

    queues = Table(title="queues", title_justify="left")
    queues.add_column("queue")
    queues.add_column("waiting", justify="right")
    for name, depth in found.queues.items():
        queues.add_row(name, str(depth))
    if found.unacked is not None:
        queues.add_row("(unacknowledged, all queues)", str(found.unacked))
    console.print(queues)

    alerts = Table(title="open alerts", title_justify="left")
    alerts.add_column("severity")
    alerts.add_column("since")
    alerts.add_column("alert")
    for alert in found.alerts:
        colour = "red" if alert.severity == "critical" else "yellow"
        alerts.add_row(
            f"[{colour}]{alert.severity}[/]", f"{alert.raised_at:%m-%d %H:%M}", alert.message
        )
    if not found.alerts:
        alerts.add_row("", "", "none")
    console.print(alerts)


def settings_share() -> float:
    """The API usage share the alerts treat as too high."""
    return get_settings().alerts.api_usage_share


def register(app: typer.Typer) -> None:
    """Attach the `status` command to the main app."""
    app.command("status")(status)
