"""Config files fail loudly: the file, the JSON path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared.config_files import json_path, load_json_model
from shared.errors import ConfigError


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hours: int = Field(ge=0)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    items: list[_Inner]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "line 1 column 2: invalid JSON"),
        ('{"name": "x", "items": [{"hours": -1}]}', "$.items[0].hours: Input should be greater"),
        (
            '{"name": "x", "items": [{"hours": "many"}]}',
            "$.items[0].hours: Input should be a valid",
        ),
        ('{"items": []}', "$.name: Field required"),
        ('{"name": "x", "items": [], "extra": 1}', "$.extra: Extra inputs are not permitted"),
    ],
    ids=["bad-json", "below-minimum", "wrong-type", "missing-key", "unknown-key"],
)
def test_errors_name_file_path_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    """Each problem line carries the JSON path and pydantic's statement of what was expected."""
    path = tmp_path / "doc.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_json_model(path, _Doc)
    message = str(excinfo.value)
    assert str(path) in message
    assert expected in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming the path, not a bare OSError."""
    path = tmp_path / "absent.json"
    with pytest.raises(ConfigError, match=r"absent\.json"):
        load_json_model(path, _Doc)


def test_json_path_rendering() -> None:
    """Keys become dotted members and list indexes become brackets."""
    assert json_path(("segments", "SMB", "employee_range", 0)) == "$.segments.SMB.employee_range[0]"
