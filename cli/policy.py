"""`leadfleet policy ...`: check routing policy files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect and validate the routing policy.", no_args_is_help=True)
