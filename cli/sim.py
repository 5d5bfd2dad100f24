"""`leadfleet sim serve`: run the Salesforce org simulator (development and demos only)."""

from __future__ import annotations

import typer

from simulator.options import parse_options
from simulator.server import serve_forever


def register(app: typer.Typer) -> None:
    """Attach the `sim` command group to the main app."""
    sim = typer.Typer(help="Run the Salesforce org simulator.", no_args_is_help=True)

    @sim.command(
        "serve",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def serve(ctx: typer.Context) -> None:
        """Serve until interrupted; prints one line of JSON with the connection details.

        Takes the options of `python -m simulator` (see `leadfleet sim serve --help`), each with
        a LEADFLEET_SIMULATOR__* variable as fallback.
        """
        serve_forever(parse_options(list(ctx.args)))

    app.add_typer(sim, name="sim")
