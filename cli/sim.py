"""`leadfleet sim serve`: run the Salesforce org simulator (development and demos only)."""

from __future__ import annotations

from pathlib import Path

import typer

from shared.settings import get_settings
from simulator.options import SimulatorOptions, default_policy_path
from simulator.server import serve_forever


def register(app: typer.Typer) -> None:
    """Attach the `sim` command group to the main app."""
    sim = typer.Typer(help="Run the Salesforce org simulator.", no_args_is_help=True)

    @sim.command("serve")
    def serve(
        port: int | None = typer.Option(None, help="HTTPS port; 0 picks a free one."),
        host: str | None = typer.Option(None, help="Address to listen on."),
        state_dir: Path | None = typer.Option(None, help="Folder for the database and TLS files."),
        seed: int | None = typer.Option(None, help="Seed of the deterministic org data."),
        policy: Path | None = typer.Option(None, help="Routing policy whose users are seeded."),
        token_ttl_seconds: int | None = typer.Option(None, help="Access token lifetime."),
        daily_api_limit: int | None = typer.Option(None, help="DailyApiRequests maximum."),
        single_email_limit: int | None = typer.Option(None, help="SingleEmail daily maximum."),
    ) -> None:
        """Serve until interrupted; prints one line of JSON with the connection details."""
        settings = get_settings().simulator
        serve_forever(
            SimulatorOptions(
                state_dir=state_dir or settings.state_dir,
                host=host or settings.host,
                port=settings.port if port is None else port,
                seed=settings.seed if seed is None else seed,
                policy_path=policy or default_policy_path(),
                token_ttl_seconds=token_ttl_seconds or settings.token_ttl_seconds,
                daily_api_limit=daily_api_limit or settings.daily_api_limit,
                single_email_limit=(
                    settings.single_email_limit
                    if single_email_limit is None
                    else single_email_limit
                ),
            )
        )

    app.add_typer(sim, name="sim")
