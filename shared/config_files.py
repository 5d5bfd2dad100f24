"""Loading JSON config files into pydantic models with errors that name file, path and expectation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def json_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """Render a pydantic error location as a JSON path such as $.segments.SMB.employee_range[0]."""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def problems_from(exc: ValidationError) -> list[str]:
    """One readable line per validation error: JSON path, what was expected, what was found."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        lines.append(f"{json_path(loc)}: {err['msg']} (got {shown})")
    return lines


def load_json_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse and validate one JSON config file, raising ConfigError naming the file on failure."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path), [f"line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), problems_from(exc)) from None
