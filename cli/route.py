"""`leadfleet route`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the `route` command to the main app."""
