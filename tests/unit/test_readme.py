"""The README a new user follows stays true: its settings reference is generated from the model,
every setting and command it names exists, and its sections come in the order a user needs."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from cli.main import app
from shared.settings_doc import iter_settings, render_markdown_reference

README = Path(__file__).resolve().parents[2] / "README.md"
START = "<!-- settings:start -->\n"
END = "<!-- settings:end -->"
# What a new user needs, in the order they need it.
SECTIONS = (
    "## How it fits together",
    "## What `make demo` shows",
    "## Connecting a real org",
    "## Running the fleet with docker compose",
    "## Reading the dashboard",
    "## Operating it",
    "## Configuration",
    "## Figures",
)


def readme() -> str:
    """The README's text."""
    return README.read_text(encoding="utf-8")


def test_settings_reference_is_generated_from_the_model() -> None:
    """The section between the markers is exactly what the settings model renders."""
    text = readme()
    section = text[text.index(START) + len(START) : text.index(END)]
    assert section == render_markdown_reference()


def test_every_setting_named_exists() -> None:
    """A LEADFLEET_* variable named anywhere in the README is a real setting (no typos, no drift)."""
    known = {name for name, _, _ in iter_settings()}
    # A name ending in * stands for a group of settings (LEADFLEET_FLYWHEEL__S3_*).
    named = {n for n in re.findall(r"LEADFLEET_[A-Z0-9_*]+", readme()) if not n.endswith("*")}
    assert named
    assert named - known == set()


def test_every_command_named_exists() -> None:
    """Every `leadfleet <command> [<subcommand>]` the README shows is a command of the CLI."""
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    text = readme()
    # Commands in code: fenced blocks and inline `...` spans, not prose about leadfleet.
    code = re.findall(r"```\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    command_pattern = re.compile(r"(?:^|[\s/])leadfleet ([\w-]+)(?: ([\w-]+))?")
    shown = {match for snippet in code for match in command_pattern.findall(snippet)}
    assert shown
    for command, sub in shown:
        assert command in commands, f"leadfleet {command}"
        subcommands = getattr(commands[command], "commands", None)
        if subcommands and sub:
            assert sub in subcommands, f"leadfleet {command} {sub}"


def test_the_commands_come_first_and_sections_follow_in_order() -> None:
    """`make demo` and `make test` come before any section; the sections keep the user's order."""
    text = readme()
    first_section = text.index("\n## ")
    assert text.index("make demo") < first_section
    assert text.index("make test") < first_section
    positions = [text.index(f"\n{heading}\n") for heading in SECTIONS]
    assert positions == sorted(positions)


def test_scaling_a_worker_is_shown() -> None:
    """The README shows how to scale the routing workers with compose."""
    assert "docker compose up -d --scale worker-route=4" in readme()
