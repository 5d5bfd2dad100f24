"""`leadfleet config ...`: the settings reference."""

from __future__ import annotations

import typer

from shared.settings_doc import render_example_env

app = typer.Typer(help="Settings reference.", no_args_is_help=True)


@app.command("example-env")
def example_env() -> None:
    """Print every setting with its default and description, as a .env file."""
    typer.echo(render_example_env(), nl=False)


@app.command("markdown")
def markdown() -> None:
    """Print the settings reference as the Markdown table the README embeds."""
    from shared.settings_doc import render_markdown_reference

    typer.echo(render_markdown_reference(), nl=False)
