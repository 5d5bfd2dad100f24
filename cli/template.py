"""`leadfleet template`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the `template` command to the main app."""
