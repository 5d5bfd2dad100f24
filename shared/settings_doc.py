"""Render the settings tree as a documented example .env file, so the documentation cannot drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from shared.settings import CONFIG_DIR, LeadfleetSettings

_REPO_ROOT = CONFIG_DIR.parent


def _shown_default(info: FieldInfo) -> str:
    """The default as it would be written in a .env file; secrets and empty values stay blank."""
    default = info.get_default(call_default_factory=True)
    if default is None or isinstance(default, SecretStr):
        return ""
    if isinstance(default, Path):
        try:
            return str(default.relative_to(_REPO_ROOT))
        except ValueError:
            return str(default)
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def iter_settings(
    model: type[BaseModel] = LeadfleetSettings, prefix: str = "LEADFLEET_"
) -> Iterator[tuple[str, str, str]]:
    """Yield (variable name, default, description) for every leaf setting, depth first."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from iter_settings(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", _shown_default(info), info.description or ""


def render_example_env() -> str:
    """The text of config/leadfleet.example.env."""
    lines = [
        "# Every leadfleet setting, with its default. Copy to .env and change what you need.",
        "# Generated from shared/settings.py by `leadfleet config example-env`; do not edit by hand.",
        "",
    ]
    section = None
    for var, default, description in iter_settings():
        group = var.removeprefix("LEADFLEET_").split("__")[0] if "__" in var else "GENERAL"
        if group != section:
            if section is not None:
                lines.append("")
            lines.append(f"## {group.lower()}")
            section = group
        lines.append(f"# {description}")
        lines.append(f"{var}={default}")
    return "\n".join(lines) + "\n"


def render_markdown_reference() -> str:
    """The README's configuration reference: one table per settings group, from the model."""
    lines: list[str] = []
    section = None
    for var, default, description in iter_settings():
        group = var.removeprefix("LEADFLEET_").split("__")[0] if "__" in var else "GENERAL"
        if group != section:
            if section is not None:
                lines.append("")
            lines += [
                f"#### {group.lower()}",
                "",
                "| variable | default | meaning |",
                "|---|---|---|",
            ]
            section = group
        shown = f"`{default}`" if default else ""
        meaning = description.replace("|", "\\|")
        lines.append(f"| `{var}` | {shown} | {meaning} |")
    return "\n".join(lines) + "\n"
