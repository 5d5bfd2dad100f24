"""`leadfleet ttfr`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the `ttfr` command to the main app."""
